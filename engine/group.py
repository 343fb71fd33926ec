"""The state of one fan-out group: its branches, what each one came to, and the aggregator's
bookkeeping. Versioned and msgpack-encoded like ``JobState``; written only by the aggregator
actor that owns the group (keyed by group id), with a compare-and-set on ``version``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.job import TaskState, Versioned
from engine.messages import GroupCancel, GroupStart

RUNNING = "running"
DONE = "done"  # every branch settled; AggregateDone went to the job
CANCELLED = "cancelled"  # the job ended first; nothing more is offered or reported


class BranchState(msgspec.Struct, kw_only=True):
    """One branch: its current task (a retry moves it to a new id) and, once settled, its entry
    in ``aggregation_results``: ``{"status", "data", "error"}``. ``key`` (the first task id) is
    that entry's key, stable across retries."""

    key: str
    task: TaskState
    result: dict[str, Any] | None = None


class GroupState(Versioned, kw_only=True):
    id: str
    job_id: str
    created_at: float
    updated_at: float
    branches: list[BranchState] = msgspec.field(default_factory=list)
    step: int = 0
    status: str = RUNNING
    offered: bool = False

    @property
    def terminal(self) -> bool:
        return self.status != RUNNING

    def branch_with_task(self, task_id: str) -> BranchState | None:
        """The unsettled branch whose current task is ``task_id`` (a settled branch has none)."""
        return next((b for b in self.branches if b.result is None and b.task.id == task_id), None)

    def results(self) -> dict[str, dict[str, Any]]:
        return {b.key: b.result for b in self.branches if b.result is not None}


def new_group(msg: GroupStart | GroupCancel, now: float) -> GroupState:
    """The state a group starts from: its branches (``GroupStart``), or a cancelled tombstone
    (``GroupCancel`` ahead of its ``GroupStart``), so a start arriving late offers nothing."""
    if isinstance(msg, GroupCancel):
        return GroupState(id=msg.group_id, job_id=msg.job_id, created_at=now, updated_at=now, status=CANCELLED)
    branches = [
        BranchState(
            key=spec.task_id,
            task=TaskState(
                id=spec.task_id,
                type=spec.type,
                params=spec.params,
                transitions={},
                max_attempts=spec.max_attempts,
                priority=spec.priority,
                dispatch_timeout=spec.dispatch_timeout,
                result_timeout=spec.result_timeout,
            ),
        )
        for spec in msg.branches
    ]
    return GroupState(
        id=msg.group_id, job_id=msg.job_id, created_at=now, updated_at=now, branches=branches, step=msg.step
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(GroupState)


def encode_group(state: GroupState) -> bytes:
    return _encoder.encode(state)


def decode_group(raw: bytes) -> GroupState:
    return _decoder.decode(raw)
