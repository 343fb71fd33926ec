"""Receiving a file in a request body: streamed into the object store, then checked.

The body goes to the store chunk by chunk (never whole in memory, whatever its size;
``MAX_REQUEST_BODY_BYTES`` does not apply). Checks, each a 400 naming the problem, after which the
object is removed:

- the size stored must be the request's ``Content-Length`` when it sent one;
- the MD5 of the bytes must be the request's ``Content-MD5`` (base64, RFC 1864) when it sent one;
- on S3 the store's ETag must match the bytes sent (``transport.objects``).

A body cut short (the client went away) is a 400 too, and leaves no object (puts are atomic).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import ClientPayloadError, web

from actors.ports.objects import ObjectInfo, ObjectStore
from engine.errors import ObjectIntegrityError

CHUNK = 1024 * 1024


async def receive(request: web.Request, objects: ObjectStore, key: str) -> ObjectInfo:
    expected_md5 = _content_md5(request)
    try:
        body, kind = request.content.iter_chunked(CHUNK), request.headers.get("Content-Type")
        info = await objects.put(key, body, content_type=kind)
    except (ClientPayloadError, ConnectionResetError) as exc:
        raise web.HTTPBadRequest(text=f"the upload of {key!r} was cut short: {exc}") from None
    except ObjectIntegrityError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    problem = None
    if request.content_length is not None and info.size != request.content_length:
        problem = f"received {info.size} bytes, but Content-Length said {request.content_length}"
    elif expected_md5 is not None and info.md5 != expected_md5:
        problem = f"the MD5 of the bytes received is {info.md5}, but Content-MD5 said {expected_md5}"
    if problem is not None:
        await objects.delete_prefix(key)
        raise web.HTTPBadRequest(text=f"{key!r} was not stored: {problem}")
    return info


def _content_md5(request: web.Request) -> str | None:
    raw = request.headers.get("Content-MD5")
    if raw is None:
        return None
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise web.HTTPBadRequest(text=f"Content-MD5 must be the base64 of a 16-byte MD5 digest, got {raw!r}")
    return digest.hex()
