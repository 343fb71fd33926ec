"""The gateway's share of a job's trace: a span per client API request, child of the caller's
``traceparent`` header (W3C trace context, read with the ``TraceContext`` propagator's ``extract``).

Installed only when tracing is on (``OTEL_EXPORTER_OTLP_ENDPOINT``): otherwise no middleware runs.
The span's own traceparent is left on the request (``traceparent_of``) for the handler: a created
job keeps it as its trace (``JobState.traceparent``), and its ``Start`` carries it. Only paths
under ``/api/`` are traced: the workers' polls and heartbeats would be noise, and their tasks are
in their job's trace already (the task payload's ``tracing_context``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on (transport.app.wiring)
    from transport.tracing import OtelTracer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TRACEPARENT = web.RequestKey("traceparent", str)


def traceparent_of(request: web.Request) -> str | None:
    """The request's span's traceparent; None when tracing is off (or the path is not traced)."""
    return request.get(TRACEPARENT)


def trace_requests(tracer: OtelTracer) -> Middleware:
    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        attributes = {"http.request.method": request.method, "http.route": route}
        with tracer.server_span(f"{request.method} {route}", request.headers, attributes) as traceparent:
            if traceparent is not None:
                request[TRACEPARENT] = traceparent
            return await handler(request)

    return traced
