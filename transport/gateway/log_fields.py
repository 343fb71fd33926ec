"""The job's ids on the log lines of one request (``actors.log_context``): each request is an
asyncio task of its own, so what a handler binds stays on that request's lines."""

from __future__ import annotations

from actors import log_context
from actors.ports.tracing import trace_id_of
from engine.job import JobState


def bind_job(job: JobState, **fields: str | None) -> None:
    """``job_id``, ``blueprint``, ``state`` and ``trace_id`` of ``job``, and ``fields``
    (``task_id``, ``worker_id``; None ones are left out)."""
    trace_id = trace_id_of(job.traceparent)
    log_context.bind(job_id=job.id, blueprint=job.blueprint, state=job.current_state, trace_id=trace_id, **fields)
