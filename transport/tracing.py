"""OpenTelemetry behind the ``Tracer`` port: spans exported over OTLP/HTTP (ADR 0021).

The tracer has a ``TracerProvider`` of its own, never the global one, so a worker SDK or a test in
the same process keeps its own. Spans go out in batches from the SDK's exporter thread
(``BatchSpanProcessor``): the activation that ends a span only queues it. ``close`` flushes what is
queued. Context crosses processes as a W3C traceparent (the ``TraceContext`` propagator): in
envelopes, in the job's state, in the task payload's ``tracing_context``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


class OtelTracer:
    """Spans of the service ``service`` (its ``service.name``), handed to ``exporter`` in batches."""

    enabled = True

    def __init__(self, exporter: SpanExporter, service: str, *, instance: str | None = None) -> None:
        attributes = {"service.name": service} | ({"service.instance.id": instance} if instance else {})
        self._provider = TracerProvider(resource=Resource.create(attributes))
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("avtomat")

    @contextmanager
    def span(self, name: str, parent: str | None, attributes: Mapping[str, str | int]) -> Iterator[str | None]:
        with self._span(name, _context_of_traceparent(parent), attributes) as traceparent:
            yield traceparent

    @contextmanager
    def server_span(
        self, name: str, headers: Mapping[str, str], attributes: Mapping[str, str | int]
    ) -> Iterator[str | None]:
        """A span for an incoming request, child of its ``traceparent`` header if it has a valid one
        (read by the ``TraceContext`` propagator's ``extract``)."""
        with self._span(name, _PROPAGATOR.extract(headers), attributes, SpanKind.SERVER) as traceparent:
            yield traceparent

    @contextmanager
    def _span(
        self,
        name: str,
        context: Context | None,
        attributes: Mapping[str, str | int],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Iterator[str | None]:
        """Not made the current span: every parent is passed explicitly, which saves attaching and
        detaching a context per span (a third of its cost)."""
        span = self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        try:
            yield traceparent_of(span)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.end()

    def flush(self) -> None:
        """Hand every span ended so far to the exporter (blocks until it has them)."""
        self._provider.force_flush()

    def close(self) -> None:
        """Export what is queued, then stop the exporter (idempotent)."""
        self._provider.shutdown()


def otlp_tracer(endpoint: str, service: str, *, instance: str | None = None) -> OtelTracer:
    """Export to the OTLP/HTTP collector at ``endpoint`` (its base URL: ``/v1/traces`` is added)."""
    return OtelTracer(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"), service, instance=instance)


def _context_of_traceparent(traceparent: str | None) -> Context | None:
    """The context of a traceparent this service wrote (``traceparent_of``), parsed without the
    propagator's regular expressions; None if there is none or it is malformed (a new trace)."""
    if traceparent is None:
        return None
    parts = traceparent.split("-")
    try:
        if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
            return None
        flags = TraceFlags(int(parts[3], 16))
        context = SpanContext(int(parts[1], 16), int(parts[2], 16), is_remote=True, trace_flags=flags)
    except ValueError:
        return None
    return trace.set_span_in_context(NonRecordingSpan(context)) if context.is_valid else None


def traceparent_of(span: trace.Span) -> str | None:
    """The span's context as a W3C traceparent, or None for an invalid (non-recording) span."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
