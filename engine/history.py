"""A job's history: what happened to it, step by step, for ``GET /api/v1/jobs/{job_id}/history``.

The step function records events as it goes; the job actor commits them with the state they
belong to, in the same atomic write (``Store.commit_job``), so the history holds exactly the
steps that were committed: a step that is retried after a crash is recorded once, and a message
the job ignores records nothing. The store keeps the most recent ``JOB_HISTORY_LIMIT`` events
of a job and expires them with it.
"""

from __future__ import annotations

from typing import Any

import msgspec

# What the events are called, in the order a job usually meets them.
JOB_STARTED = "job_started"
STATE_ENTERED = "state_entered"
HANDLER_FAILED = "handler_failed"
TASK_DISPATCHED = "task_dispatched"
TASK_STARTED = "task_started"
TASK_FINISHED = "task_finished"
TASK_FAILED = "task_failed"
TASK_RETRY = "task_retry_scheduled"
WORKER_EVENT = "worker_event"  # a worker's event (not progress), and the state it moved the job to, if any
PARALLEL_DISPATCHED = "parallel_dispatched"
PARALLEL_DONE = "parallel_done"
APPROVAL_REQUESTED = "approval_requested"
APPROVAL_DECIDED = "approval_decided"
APPROVAL_TIMED_OUT = "approval_timed_out"
CHILD_STARTED = "child_started"
CHILD_ENDED = "child_ended"
JOB_REDRIVEN = "job_redriven"
JOB_ENDED = "job_ended"


class HistoryEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """One thing that happened to a job at ``at`` (epoch seconds), in state ``state``."""

    at: float
    event: str
    state: str
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The event as the API shows it: its details beside ``at``, ``event`` and ``state``."""
        return {**self.details, "at": self.at, "event": self.event, "state": self.state}


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(HistoryEvent)


def encode_event(event: HistoryEvent) -> bytes:
    return _encoder.encode(event)


def decode_event(raw: bytes) -> HistoryEvent:
    return _decoder.decode(raw)
