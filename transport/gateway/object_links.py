"""URLs that reach one object without credentials, and the gateway route behind those of a store
that cannot presign.

``link(ctx, request, method, key)`` is S3's presigned URL when the store is S3, else a URL of this
gateway, ``/_public/objects/{key}?expires=..&signature=..``, signed with HMAC-SHA256 over the
method, the key and the expiry with ``ORCHESTRATOR_SECRET_KEY``: every gateway sharing the secret
honours it, until it expires (``PRESIGNED_URL_SECONDS``). Its base is the URL the request came to,
so a worker or client gets a link to the gateway it talks to.

``GET`` streams the object (``Content-Length`` and ``ETag`` set; a store that sends fewer bytes
than it announced aborts the connection instead of ending a short body). ``PUT`` streams the body
into the object (``uploads.receive``: size and MD5 checked). A missing or wrong signature is 403, an
expired one 403 naming the expiry, a missing object 404.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from actors.ports.objects import Method, ObjectInfo, ObjectReader
from engine.errors import ObjectNotFound
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.uploads import receive

ROUTE = "/_public/objects/{key:.+}"


async def link(
    ctx: GatewayContext, request: web.Request, method: Method, key: str, seconds: float | None = None
) -> str:
    """A URL that ``method``s object ``key`` for ``seconds`` (default ``PRESIGNED_URL_SECONDS``)."""
    assert ctx.files is not None
    seconds = seconds if seconds is not None else ctx.settings.objects.url_seconds
    presigned = await ctx.files.objects.presign(method, key, seconds)
    if presigned is not None:
        return presigned
    expires = int(ctx.clock() + seconds)
    query = urlencode({"expires": expires, "signature": _signature(ctx, method, key, expires)})
    return f"{request.url.origin()}/_public/objects/{quote(key)}?{query}"


def _signature(ctx: GatewayContext, method: str, key: str, expires: int) -> str:
    message = f"{method}\n{key}\n{expires}".encode()
    return hmac.new(ctx.settings.orchestrator_secret_key.encode(), message, hashlib.sha256).hexdigest()


def _authorized(request: web.Request, method: str) -> tuple[GatewayContext, str]:
    ctx = context_of(request)
    if ctx.files is None:
        raise web.HTTPNotImplemented(text="no object store is configured")
    key = request.match_info["key"]
    raw_expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
    if not (raw_expires.isascii() and raw_expires.isdigit()) or not signature:
        raise web.HTTPForbidden(text="a signed object URL needs its expires and signature parameters")
    expected = _signature(ctx, method, key, int(raw_expires))
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a refusal).
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise web.HTTPForbidden(text=f"the signature does not match {method} {key}")
    if int(raw_expires) < ctx.clock():
        raise web.HTTPForbidden(text=f"this signed URL expired at {raw_expires} (epoch seconds)")
    return ctx, key


async def get_object(request: web.Request) -> web.StreamResponse:
    ctx, key = _authorized(request, "GET")
    return await stream_object(request, ctx, key)


async def put_object(request: web.Request) -> web.Response:
    ctx, key = _authorized(request, "PUT")
    assert ctx.files is not None
    await ctx.files.touched(key.split("/", 1)[0])
    info = await receive(request, ctx.files.objects, key)
    return json_response(upload_answer(info, ctx.files.objects.bucket))


async def stream_object(request: web.Request, ctx: GatewayContext, key: str) -> web.StreamResponse:
    """Stream object ``key`` as the response body; 404 if it does not exist."""
    assert ctx.files is not None
    try:
        reader = await ctx.files.objects.get(key)
    except ObjectNotFound:
        raise web.HTTPNotFound(text=f"no file {key!r}") from None
    response = web.StreamResponse(headers=_headers(reader.info))
    response.content_length = reader.info.size
    await response.prepare(request)
    await _send(response, reader)
    await response.write_eof()
    return response


def _headers(info: ObjectInfo) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream"}
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    return headers


async def _send(response: web.StreamResponse, reader: ObjectReader) -> None:
    sent = 0
    async for chunk in reader:
        sent += len(chunk)
        if sent > reader.info.size:
            break
        await response.write(chunk)
    if sent != reader.info.size:  # the headers are out: only a cut connection tells the client
        raise ConnectionResetError(f"{reader.info.key!r}: the store sent {sent} of {reader.info.size} bytes")


def upload_answer(info: ObjectInfo, bucket: str | None) -> dict[str, Any]:
    uri = f"s3://{bucket}/{info.key}" if bucket else info.key
    return {"status": "uploaded", "s3_uri": uri, "key": info.key, "size": info.size, "etag": info.etag, "md5": info.md5}
