"""Authentication of clients (``X-Client-Token``) and workers (``X-Worker-Token``).

Tokens are compared in constant time. A missing client token is 401 and a wrong one 403. For
workers both are 401, because the RXON SDK reacts to 401 (token refresh, re-registration) and
treats 403 as final. An unset (empty) configured token rejects everyone.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from aiohttp import web
from rxon.constants import AUTH_HEADER_CLIENT, AUTH_HEADER_WORKER, AUTH_HEADER_WORKER_ID


@functools.lru_cache(maxsize=256)  # a few tokens, asked on every request
def client_id_of(token: str) -> str:
    """A stable, non-reversible id for the holder of ``token``; jobs are scoped to it."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def authenticate_client(request: web.Request, expected: str) -> str:
    """Return the caller's client id, or raise 401 (no token) / 403 (wrong token)."""
    token = request.headers.get(AUTH_HEADER_CLIENT)
    if not token:
        raise web.HTTPUnauthorized(text=f"missing {AUTH_HEADER_CLIENT} header")
    if not _same(token, expected):
        raise web.HTTPForbidden(text=f"invalid {AUTH_HEADER_CLIENT}")
    return client_id_of(token)


def authenticate_worker(request: web.Request, expected: str) -> str | None:
    """Check the worker token (401 if missing or wrong); return the ``X-Worker-ID`` header, if any."""
    token = request.headers.get(AUTH_HEADER_WORKER)
    if not token:
        raise web.HTTPUnauthorized(text=f"missing {AUTH_HEADER_WORKER} header")
    if not _same(token, expected):
        raise web.HTTPUnauthorized(text=f"invalid {AUTH_HEADER_WORKER}")
    return request.headers.get(AUTH_HEADER_WORKER_ID) or None


def require_same_worker(header_id: str | None, worker_id: str, where: str) -> None:
    """403 when the ``X-Worker-ID`` header is present and names another worker than ``where``."""
    if header_id is not None and header_id != worker_id:
        raise web.HTTPForbidden(text=f"{AUTH_HEADER_WORKER_ID} {header_id!r} does not match {where} {worker_id!r}")


def _same(given: str, expected: str) -> bool:
    if not expected:
        return False
    encode = "utf-8", "surrogateescape"
    return hmac.compare_digest(given.encode(*encode), expected.encode(*encode))
