"""The client's file routes for a job, as upstream names them; every file lives under the job's
prefix ``{job_id}/`` in the object store, and only the job's owner reaches them.

- ``GET /api/v1/jobs/{id}/files/upload?filename=&expires_in=`` — a URL to ``PUT`` the file to
  directly: S3's presigned URL, or a signed URL of this gateway for the local store
  (``object_links``); ``{"url", "method": "PUT", "expires_in", "s3_uri"}``.
- ``PUT /api/v1/jobs/{id}/files/content/{filename}`` — the body, streamed into the store, size and
  MD5 checked (``uploads``); ``{"status": "uploaded", "s3_uri", "key", "size", "etag", "md5"}``.
- ``GET /api/v1/jobs/{id}/files/download/{filename}`` — on S3, 302 to a presigned GET valid for
  ``DOWNLOAD_REDIRECT_SECONDS`` (S3 then answers with the size and ETag); else the bytes, streamed,
  with ``Content-Length`` and ``ETag``.

A file name must stay inside the prefix (no ``..``, no leading ``/``): else 400 naming the problem.
Without an object store the routes answer 501.
"""

from __future__ import annotations

from aiohttp import web

from engine.errors import ObjectNotFound
from transport.gateway.client_api import own_job
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.object_links import link, stream_object, upload_answer
from transport.gateway.uploads import receive
from transport.job_files import JobFiles
from transport.task_files import checked_name

DOWNLOAD_REDIRECT_SECONDS = 60  # upstream's: the client follows the redirect at once
MAX_URL_SECONDS = 7 * 24 * 3600  # S3's longest presigned URL


async def _job_file(request: web.Request, name: str | None) -> tuple[GatewayContext, JobFiles, str]:
    ctx = context_of(request)
    state = await own_job(request, ctx)
    if ctx.files is None:
        raise web.HTTPNotImplemented(text="no object store is configured")
    if not name:
        raise web.HTTPBadRequest(text="name the file: ?filename=... (a path relative to the job's files)")
    try:
        return ctx, ctx.files, f"{state.id}/{checked_name(name)}"
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def upload_url(request: web.Request) -> web.Response:
    ctx, files, key = await _job_file(request, request.query.get("filename"))
    seconds = _seconds(request, ctx.settings.objects.url_seconds)
    await files.touched(key.split("/", 1)[0])
    url = await link(ctx, request, "PUT", key, seconds)
    answer = {"url": url, "method": "PUT", "expires_in": seconds, "s3_uri": _uri(files, key), "key": key}
    return json_response(answer)


async def upload_content(request: web.Request) -> web.Response:
    _, files, key = await _job_file(request, request.match_info["filename"])
    await files.touched(key.split("/", 1)[0])
    return json_response(upload_answer(await receive(request, files.objects, key), files.objects.bucket))


async def download(request: web.Request) -> web.StreamResponse:
    ctx, files, key = await _job_file(request, request.match_info["filename"])
    if files.objects.bucket is None:
        return await stream_object(request, ctx, key)
    try:
        info = await files.objects.head(key)
    except ObjectNotFound:
        raise web.HTTPNotFound(text=f"no file {key!r}") from None
    url = await link(ctx, request, "GET", key, DOWNLOAD_REDIRECT_SECONDS)
    headers = {"X-Object-Size": str(info.size), **({"ETag": f'"{info.etag}"'} if info.etag else {})}
    raise web.HTTPFound(url, headers=headers)


def _seconds(request: web.Request, default: float) -> float:
    raw = request.query.get("expires_in")
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_URL_SECONDS:
        limits = f"a whole number of seconds from 1 to {MAX_URL_SECONDS}"
        raise web.HTTPBadRequest(text=f"expires_in must be {limits}, got {raw!r}")
    return float(raw)


def _uri(files: JobFiles, key: str) -> str:
    bucket = files.objects.bucket
    return f"s3://{bucket}/{key}" if bucket else key
