"""The task queue and the leases of taken tasks.

- Tasks wait in a queue per skill until a worker takes one; ``take_task`` records a lease
  (task id -> job or group, worker, expiry) that heartbeats extend and results consult. A lease
  is released when the worker reports the task, or when the timeouts leader sweeps it after it
  expired (the worker is gone: the task's owner is told ``TaskLost``). Leases never released
  (a process died in between) still expire from the store after a long backstop TTL.
- A queued task may be *reserved* for one worker until a time (the router's choice): other
  takers skip it until then, the reserved worker may take it at once. A reservation is only a
  preference: once it lapses anyone capable takes the task, so a reserved worker that died or is
  slow never strands it, and there is nothing to clean up. A taker looks at most
  ``RESERVATION_SCAN_LIMIT`` head tasks per skill; when all of those are reserved for others it
  gets none of that skill on this attempt, even if an unreserved one waits further back — it gets
  it at the latest when those reservations lapse (``ROUTER_RESERVATION_SECONDS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from actors.ports.store.workers import WorkerRecord
from engine.job import JobState
from engine.messages import TaskOffer

# How many head tasks of each skill's queue a taker looks at, skipping those reserved for others.
RESERVATION_SCAN_LIMIT = 32


class Lease(msgspec.Struct, frozen=True):
    """A task handed to ``worker_id``. ``expires_at`` (epoch seconds) moves forward with the
    worker's heartbeats; once it has passed, the task counts as lost and goes back to its owner:
    the job ``job_id``, or the fan-out group ``group_id`` for a branch."""

    task_id: str
    job_id: str
    worker_id: str
    taken_at: float
    expires_at: float
    group_id: str | None = None


class Contender(msgspec.Struct, frozen=True):
    """A worker a task may be reserved for (``TaskQueue.push_task_reserved``): ``tier`` (lower
    goes first), its load at its heartbeat of ``last_seen`` (``base_load``: the tasks it
    reported), to which the reservations counted for it since that heartbeat add."""

    worker_id: str
    last_seen: float
    base_load: int
    tier: int = 0


class TaskQueue(Protocol):
    async def push_task(
        self,
        offer: TaskOffer,
        *,
        reserved_for: str | None = None,
        reserved_until: float = 0.0,
        counted_since: float | None = None,
        now: float | None = None,
    ) -> None:
        """Queue a task for its skill; pushing the same task id twice queues it once (the first
        push's reservation and time stand). ``now`` is when it was queued (epoch seconds; default:
        the store's own clock) and sets its place in the queue (``take_task``); a task queued again
        (a retry's new id, or one put back) starts over at its new time. With ``reserved_for``,
        only that worker may take it before ``reserved_until`` (epoch seconds); afterwards anyone
        capable may. With ``counted_since`` too (the worker's ``last_seen``), the reservation
        counts towards the worker's load in ``reservations`` (the optimistic increment), in the
        same atomic step and only if this push queued the task: a redelivered offer counts once."""

    async def push_task_reserved(
        self, offer: TaskOffer, contenders: Sequence[Contender], *, reserved_until: float, now: float | None = None
    ) -> str | None:
        """``push_task`` reserved until ``reserved_until`` for the best of ``contenders``, chosen in
        the same atomic step from the loads as they stand then: lowest ``tier``, then least loaded
        (``base_load`` plus its count in ``reservations``), then first in ``contenders``; the
        reservation counts for it (``counted_since`` its ``last_seen``). One round trip where
        reading the counts first took two, and two routers cannot both pick the worker a count
        read before the other's push made look idle. Returns the chosen worker if this queued the
        task; None if it was queued or leased already (nothing changes) or there were no
        contenders (queued unreserved)."""

    async def take_task(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> TaskOffer | None:
        """Hand the best queued task of one of ``skills`` to the worker, waiting up to ``timeout``
        seconds; records its lease, expiring at ``now + lease_seconds``. Tasks reserved for another
        worker are skipped until their reservation lapses; ``now`` is the time of the first
        attempt, and a waiting taker's clock for reservations advances from it.

        Best is the lowest score ``queued_at - priority * priority_aging`` (the store's
        ``priority_aging``: ``TASK_PRIORITY_AGING_SECONDS``), then the first pushed. So among
        tasks queued close together the higher priority goes first, FIFO within a priority; and a
        task of priority ``p`` queued at ``t`` goes before any task of priority ``q > p`` queued
        after ``t + (q - p) * priority_aging``: a steady stream of higher priorities cannot
        starve it."""

    async def take_task_with_job(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> tuple[TaskOffer, JobState | None] | None:
        """``take_task``, and the task's job as stored at that moment (None if it is gone), read
        in the same atomic step as the pop and the lease (one round trip on a remote store)."""

    async def reservations(self, workers: Sequence[WorkerRecord]) -> dict[str, int]:
        """Tasks pushed reserved for each worker, with ``counted_since`` its current ``last_seen``,
        since that heartbeat (0 when none: a newer heartbeat starts from zero). Shared by every
        router, so nodes do not pile work on the same worker between beats."""

    async def queue_depths(self, skills: Sequence[str]) -> dict[str, int]:
        """How many tasks wait in each of ``skills``' queues (reserved or not; taken ones have left
        it; 0 for an unknown skill): for the dashboard and the metrics' gauge. A snapshot: each
        count is read on its own, not together (one round trip on a pipelining store)."""


class LeaseStore(Protocol):
    async def get_lease(self, task_id: str) -> Lease | None: ...

    async def extend_leases(self, worker_id: str, task_ids: Sequence[str], until: float) -> list[str]:
        """Make the leases ``worker_id`` holds among ``task_ids`` expire at ``until`` (never earlier
        than they already did); leases of other workers and unknown ids are left alone. Returns
        the ids of the worker's leases, in the order given. One atomic step."""

    async def expired_leases(self, now: float, limit: int) -> list[Lease]:
        """Up to ``limit`` leases with ``expires_at <= now``, earliest first; they stay until
        ``release_lease``, so a sweeper that dies before releasing one reports it again."""

    async def release_lease(self, task_id: str) -> None:
        """Drop the lease of ``task_id``; unknown ids are ignored (idempotent)."""
