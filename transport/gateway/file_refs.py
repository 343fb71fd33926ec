"""Where job data points at objects, the gateway turns the pointer into something usable.

- A task's params with claim-check references (``engine.objects``): each becomes a URL the worker
  downloads the value from (S3 presigned, or this gateway's signed link), never an ``s3://`` URI
  (the 1.0b20 SDK cannot download those: it awaits a synchronous obstore call).
- A worker's ``data_metadata`` (``{json path: {uri, size, etag}}``): each ``s3://`` URI in the
  orchestrator's bucket and the job's prefix is checked against the store (the size, and the
  ETag when the worker sent one) before the result is accepted.
- The job view: every ``s3://{bucket}/{job_id}/...`` string in the result shows as a presigned
  HTTPS URL; each ``data_metadata`` entry keeps its ``uri`` and gets the ``url``.

Only objects under the job's own prefix are ever signed, so a job's data cannot hand out another
job's files.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from rxon.models import FileMetadata

from engine.errors import ObjectNotFound
from engine.objects import has_references, referenced_key
from transport.gateway.context import GatewayContext
from transport.gateway.object_links import link


async def worker_params(
    ctx: GatewayContext, request: web.Request, job_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    """``params`` with each reference into the job's prefix replaced by a download URL."""
    if ctx.files is None or not has_references(params):
        return params
    out = dict(params)
    for name, value in params.items():
        key = referenced_key(value)
        if key is not None and key.startswith(f"{job_id}/"):
            out[name] = await link(ctx, request, "GET", key)
    return out


def _own_key(ctx: GatewayContext, job_id: str, uri: str) -> str | None:
    """The key of ``uri`` if it is ``s3://{our bucket}/{job_id}/...``, else None."""
    bucket = ctx.files.objects.bucket if ctx.files is not None else None
    prefix = f"s3://{bucket}/"
    if bucket is None or not uri.startswith(prefix) or not uri[len(prefix) :].startswith(f"{job_id}/"):
        return None
    return uri[len(prefix) :]


async def checked_files(
    ctx: GatewayContext, job_id: str, metadata: dict[str, FileMetadata]
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The worker's ``data_metadata`` as plain dicts, and the first mismatch with the store (a
    missing object, another size, another ETag), or None if every file checks out."""
    files = {path: {"uri": m.uri, "size": m.size, "etag": m.etag} for path, m in metadata.items()}
    assert ctx.files is not None
    for path, meta in metadata.items():
        key = _own_key(ctx, job_id, meta.uri)
        if key is None or meta.uri.endswith("/"):
            continue  # another bucket or job, or a directory (its size is the sum of its files)
        try:
            info = await ctx.files.objects.head(key)
        except ObjectNotFound:
            return files, f"result file {path!r} ({meta.uri}) is not in the object store"
        if info.size != meta.size:
            return files, f"result file {path!r} ({meta.uri}) has {info.size} bytes, the worker said {meta.size}"
        if meta.etag and info.etag and meta.etag.strip('"') != info.etag:
            return files, f"result file {path!r} ({meta.uri}) has ETag {info.etag}, the worker said {meta.etag}"
    return files, None


async def presigned(ctx: GatewayContext, request: web.Request, job_id: str, value: Any) -> Any:
    """``value`` with every ``s3://`` URI of the job's files replaced by a presigned GET URL; the
    same object when there is nothing to replace."""
    if ctx.files is None or ctx.files.objects.bucket is None:
        return value
    if isinstance(value, str):
        key = _own_key(ctx, job_id, value)
        return value if key is None or key.endswith("/") else await link(ctx, request, "GET", key)
    if isinstance(value, dict):
        return {k: await presigned(ctx, request, job_id, v) for k, v in value.items()}
    if isinstance(value, list):
        return [await presigned(ctx, request, job_id, v) for v in value]
    return value


async def with_urls(ctx: GatewayContext, request: web.Request, job_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The job's ``data_metadata``, each entry with ``url``: its ``uri`` presigned (the same
    ``uri`` when it is not one of the job's S3 files)."""
    return {path: {**meta, "url": await presigned(ctx, request, job_id, meta.get("uri"))}
            for path, meta in metadata.items()}  # fmt: skip
