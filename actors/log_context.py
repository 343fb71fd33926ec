"""The ids every log line about a job carries, bound for the code handling that job.

A ``ContextVar`` holding one dict: the job actor binds ``job_id``, ``blueprint``, ``state`` and
``trace_id`` when it takes a message, the gateway ``job_id``, ``task_id`` and ``worker_id`` when it
hands out or takes back a task. The log set-up (``transport.app.logs``) adds them to every line
logged from that context. An asyncio task starts with a copy of its creator's context, so a bound
id never leaks into another job's handling, and the runtime's per-key task keeps its key's.
Plain ``contextvars``: the actors depend on no logging library.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("avtomat_log_fields", default=None)


def bind(**fields: Any) -> None:
    """Add ``fields`` to those bound (None values are skipped); a new dict, so a copy of the
    context taken earlier keeps the fields it had."""
    bound = _FIELDS.get()
    merged = dict(bound) if bound else {}
    for name, value in fields.items():
        if value is not None:
            merged[name] = value
    _FIELDS.set(merged)


def bound() -> dict[str, Any] | None:
    """The fields bound in this context (do not mutate), or None."""
    return _FIELDS.get()
