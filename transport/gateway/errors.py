"""Every error leaves the gateway as JSON ``{"error": "..."}``, and every response carries
``X-RXON-Version``.

Handlers signal errors by raising ``web.HTTPException`` subclasses with ``text=`` naming the
problem; the middleware turns them into JSON. Exceptions aiohttp raises itself (no route, wrong
method, body too large) get a message written here instead of aiohttp's terse default. The
broker or store being away (``engine.errors.Unavailable``, which the adapters raise) is a 503
with ``Retry-After``, as is every other 503: the caller retries. Anything else is a bug: it is
logged and answered with a JSON 500 that does not leak internals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from rxon.constants import PROTOCOL_VERSION, PROTOCOL_VERSION_HEADER

from engine.errors import ArchiveUnavailable, BrokerUnavailable, StoreUnavailable, Unavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RETRY_AFTER_SECONDS = 1  # what a 503 asks the caller to wait: outages are seconds, not minutes


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = json_response({"error": message}, status=status)
    response.headers.update(headers or {})
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Convert HTTP errors (status >= 400) to JSON; redirects and successes pass through."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: exc.headers[name] for name in ("Allow", "Retry-After") if name in exc.headers}
        if exc.status == 503:
            headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return error_response(exc.status, _message(request, exc), headers)
    except Unavailable as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        return error_response(503, _unavailable(exc), {"Retry-After": str(RETRY_AFTER_SECONDS)})
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error; see the orchestrator log")


def _unavailable(exc: Unavailable) -> str:
    services = {StoreUnavailable: "the store", BrokerUnavailable: "the broker", ArchiveUnavailable: "the archive"}
    service = services.get(type(exc), "a backing service")
    return f"{service} is unavailable; retry shortly"


def _message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"method {exc.method} is not allowed on {request.path}; allowed: {allowed}"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return f"request body is larger than the limit of {request.client_max_size} bytes"
    if exc.text is None or exc.text == f"{exc.status}: {exc.reason}":
        if exc.status == 404:
            return f"no route for {request.method} {request.path}"
        return exc.reason
    return exc.text


async def stamp_protocol_version(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: runs for every response, errors and 204s included."""
    response.headers[PROTOCOL_VERSION_HEADER] = PROTOCOL_VERSION
