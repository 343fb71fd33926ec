"""The state of one fan-out group, in two parts the store keeps apart (ADR 0007):

- ``GroupState``, the header: counts, status and the aggregator's bookkeeping (``Versioned``:
  ``applied`` window, ``outbox``). Small whatever the number of branches; every message the
  aggregator handles reads and rewrites it, with a compare-and-set on ``version``.
- one ``BranchState`` per branch, stored under its key (the branch's first task id). A message
  about one branch reads and rewrites that branch only, in the same atomic commit as the header;
  all of them are read once, when the last one settles, to build ``AggregateDone``.

Both are msgpack-encoded and written only by the aggregator actor that owns the group (keyed by
group id).
"""

from __future__ import annotations

from collections.abc import Iterable
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
    that entry's key and the branch's key in the store, stable across retries; ``index`` is its
    place in ``GroupStart.branches``, the order of the results."""

    key: str
    index: int = 0
    task: TaskState
    result: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] | None = None  # the worker's data_metadata, with its result

    def runs(self, task_id: str) -> bool:
        """Unsettled, and its current task is ``task_id`` (a settled branch runs nothing)."""
        return self.result is None and self.task.id == task_id


class GroupState(Versioned, kw_only=True):
    """The group's header. ``size`` branches, ``settled`` of them settled; the branches themselves
    are stored beside it (``Store.load_branch``), never inside."""

    id: str
    job_id: str
    created_at: float
    updated_at: float
    size: int = 0
    settled: int = 0
    step: int = 0
    status: str = RUNNING
    offered: bool = False

    @property
    def terminal(self) -> bool:
        return self.status != RUNNING


def new_group(msg: GroupStart | GroupCancel, now: float) -> GroupState:
    """The header a group starts from (``GroupStart``), or a cancelled tombstone (``GroupCancel``
    ahead of its ``GroupStart``), so a start arriving late offers nothing. Its branches are not
    stored until the start is applied (``branches_of``)."""
    if isinstance(msg, GroupCancel):
        return GroupState(id=msg.group_id, job_id=msg.job_id, created_at=now, updated_at=now, status=CANCELLED)
    return GroupState(
        id=msg.group_id, job_id=msg.job_id, created_at=now, updated_at=now, size=len(msg.branches), step=msg.step
    )


def branches_of(msg: GroupStart) -> list[BranchState]:
    """The branches of a starting group, none of them offered yet."""
    return [
        BranchState(
            key=spec.task_id,
            index=index,
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
        for index, spec in enumerate(msg.branches)
    ]


def results(branches: Iterable[BranchState]) -> dict[str, dict[str, Any]]:
    """``aggregation_results`` of settled ``branches``, in branch order; when a key occurs twice
    (a stored branch, then the same branch as this step changed it) the later one counts."""
    latest = {b.key: b for b in branches}
    ordered = sorted(latest.values(), key=lambda b: b.index)
    return {b.key: b.result for b in ordered if b.result is not None}


def files(branches: Iterable[BranchState]) -> dict[str, dict[str, Any]] | None:
    """The files the workers of settled ``branches`` uploaded, each path under its branch's key
    (``"{key}.{path}"``: two branches may report the same path); None when there are none. A
    branch occurring twice counts as in ``results``."""
    latest = {b.key: b for b in branches}
    settled = [b for b in latest.values() if b.result is not None and b.files]
    found = {f"{b.key}.{path}": meta for b in settled for path, meta in (b.files or {}).items()}
    return found or None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(GroupState)
_branch_decoder = msgspec.msgpack.Decoder(BranchState)


def encode_group(state: GroupState) -> bytes:
    return _encoder.encode(state)


def decode_group(raw: bytes) -> GroupState:
    return _decoder.decode(raw)


def encode_branch(branch: BranchState) -> bytes:
    return _encoder.encode(branch)


def decode_branch(raw: bytes) -> BranchState:
    return _branch_decoder.decode(raw)
