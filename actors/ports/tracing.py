"""Tracing, as the actors see it: a span around a piece of work, its context as a W3C traceparent.

The actors never import OpenTelemetry (ADR 0021): they open spans through this port, and carry
the context they get back as a plain string (``Envelope.traceparent``, ``JobState.traceparent``).
``NO_TRACER`` is the default: ``enabled`` is False, and a caller checks it before building any
attribute, so tracing switched off costs one attribute read per activation.

``trace_id_of`` reads the trace id out of a traceparent for the log lines, without a tracer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Tracer(Protocol):
    @property
    def enabled(self) -> bool:
        """False: every ``span`` is a no-op yielding None, and callers skip it altogether."""
        ...

    def span(
        self, name: str, parent: str | None, attributes: Mapping[str, str | int]
    ) -> AbstractContextManager[str | None]:
        """A span named ``name``, child of ``parent`` (a traceparent; None: a new trace), ended when
        the block exits (an exception escaping it marks the span as an error). Yields the span's own
        traceparent, for the messages sent from within it."""
        ...


class NoTracer:
    """Tracing off: nothing is created."""

    enabled = False

    @contextmanager
    def span(self, name: str, parent: str | None, attributes: Mapping[str, str | int]) -> Iterator[str | None]:
        yield None


NO_TRACER: Tracer = NoTracer()


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32 hex digits of a ``00-<trace id>-<span id>-<flags>`` traceparent, or None."""
    if traceparent is None or len(traceparent) < 35:
        return None
    return traceparent[3:35]
