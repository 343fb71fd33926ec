"""``transport.tracing.OtelTracer``: spans continue the traceparent they are given, a malformed one
starts a new trace, an exception marks the span failed, and every span is exported."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors.ports.tracing import NO_TRACER, trace_id_of
from transport.tracing import OtelTracer

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def traced() -> tuple[OtelTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return OtelTracer(exporter, "test"), exporter


def test_a_span_continues_its_parent_and_yields_its_own_traceparent() -> None:
    tracer, exporter = traced()
    with tracer.span("job Start", PARENT, {"job.id": "j1"}) as own:
        assert own is not None and trace_id_of(own) == trace_id_of(PARENT) and own != PARENT
    with tracer.span("route task", own, {}) as child:
        assert trace_id_of(child) == trace_id_of(PARENT)
    tracer.flush()

    first, second = exporter.get_finished_spans()
    assert first.parent is not None and f"{first.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert second.parent is not None and second.parent.span_id == first.context.span_id
    assert dict(first.attributes or {}) == {"job.id": "j1"}


@pytest.mark.parametrize("parent", [None, "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "00-xyz-abc-01"])
def test_no_or_a_malformed_parent_starts_a_new_trace(parent: str | None) -> None:
    tracer, _ = traced()
    with tracer.span("job Start", parent, {}) as own:
        assert own is not None and trace_id_of(own) != trace_id_of(PARENT)


def test_a_server_span_continues_the_callers_header_and_ignores_a_bad_one() -> None:
    tracer, _ = traced()
    with tracer.server_span("POST /api/v1/jobs/x", {"traceparent": PARENT}, {}) as own:
        assert trace_id_of(own) == trace_id_of(PARENT)
    with tracer.server_span("POST /api/v1/jobs/x", {"traceparent": "nonsense"}, {}) as own:
        assert own is not None and trace_id_of(own) != trace_id_of(PARENT)


def test_an_exception_marks_the_span_failed_and_still_ends_it() -> None:
    tracer, exporter = traced()
    with pytest.raises(RuntimeError), tracer.span("job Start", None, {}):
        raise RuntimeError("store down")
    tracer.flush()

    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_the_no_tracer_is_off_and_yields_nothing() -> None:
    assert NO_TRACER.enabled is False
    with NO_TRACER.span("x", PARENT, {}) as own:
        assert own is None
    assert trace_id_of(None) is None and trace_id_of("short") is None
