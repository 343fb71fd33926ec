"""The state-store contract; the in-memory and Redis stores implement it.

- Job state is versioned: ``commit_job`` is a compare-and-set on ``expected_version`` and raises
  ``VersionConflict`` if another writer committed first. Two nodes can never both apply a step.
- A fan-out group is a small versioned header, written by compare-and-set as a job is, and one
  record per branch beside it (ADR 0007). A commit writes the header and the branches it is given
  in one atomic step, so a branch changes only together with the header's version; loading one
  branch (by any task id it ran) and committing one cost the same whatever the number of
  branches. Only the aggregator writes a group; the gateway reads a branch to tell a live branch
  task from a stale one.
- Progress lives beside the state, so a progress event is a small write, not a state rewrite.
- Deadlines are a sorted set of envelopes keyed by envelope id (scheduling twice is a no-op);
  ``due`` reads without removing, and the timeouts actor removes after publishing, so a crash in
  between republishes (the job de-duplicates by envelope id). A job's own deadlines are added and
  removed by ``commit_job``, atomically with the state that needs them or makes them obsolete
  (ADR 0008); ``schedule`` serves everyone else (fan-out branches).
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
- Cancellation notices are a broadcast, not storage: ``announce_cancels`` reaches the
  ``cancel_notices`` subscriptions open at that moment in every process sharing the store (Redis
  pub/sub), and nothing else. A notice lost on the way is covered by the worker's next heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from actors.ports.notices import Subscription
from engine.group import BranchState, GroupState
from engine.history import HistoryEvent
from engine.job import JobState
from engine.messages import CancelNotice, Envelope, TaskOffer

# How many head tasks of each skill's queue a taker looks at, skipping those reserved for others.
RESERVATION_SCAN_LIMIT = 32


class WorkerRecord(msgspec.Struct, kw_only=True):
    """A registered worker, as the registry keeps it (refreshed by heartbeats, expires by TTL)."""

    worker_id: str
    worker_type: str = "generic"
    skills: list[str] = msgspec.field(default_factory=list)
    hot_skills: list[str] = msgspec.field(default_factory=list)
    status: str = "idle"
    current_tasks: list[str] = msgspec.field(default_factory=list)
    registered_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0
    websockets: bool = False
    info: dict[str, Any] = msgspec.field(default_factory=dict)


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


class Scheduled(msgspec.Struct, frozen=True):
    route: str
    envelope: Envelope
    at: float


class Store(Protocol):
    # -- jobs ------------------------------------------------------------------------------
    async def create_job(self, state: JobState) -> bool:
        """Store a new job (version 1); False if the id exists already."""

    async def load_job(self, job_id: str) -> JobState | None: ...

    async def commit_job(
        self,
        state: JobState,
        expected_version: int,
        *,
        schedule: Sequence[Scheduled] = (),
        unschedule: Sequence[str] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        """Write ``state`` as version ``expected_version + 1`` and, in the same atomic step, append
        ``history`` to the job's history (keeping the newest events, up to the store's limit), list
        the job among its client's quarantined jobs if it is quarantined (and unlist it otherwise),
        remove the deadlines ``unschedule`` (ids; unknown ones are ignored), then add ``schedule``
        (as ``schedule`` does: an id already scheduled keeps its time); or raise
        ``VersionConflict`` and write none of it."""

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        """The job's history events, oldest first ([] for an unknown job)."""

    async def quarantined_jobs(self, client_id: str, limit: int) -> list[JobState]:
        """Up to ``limit`` of the client's quarantined jobs, longest in quarantine first."""

    async def claim(self, name: str, ttl: float) -> bool:
        """Take ``name`` for ``ttl`` seconds: True for the first caller, False while it is taken."""

    async def release_claim(self, name: str) -> None:
        """Give ``name`` back (a claim whose purpose failed); unknown names are ignored."""

    async def set_progress(self, job_id: str, progress: float, message: str | None) -> None: ...

    # -- fan-out groups --------------------------------------------------------------------
    async def create_group(self, state: GroupState) -> bool:
        """Store a new group header (version 1), with no branches yet; False if the id exists
        already (the first one is kept)."""

    async def load_group(self, group_id: str) -> GroupState | None:
        """The group's header, without its branches."""

    async def load_branch(self, group_id: str, task_id: str) -> BranchState | None:
        """The branch of the group that ran ``task_id``: its first task (the branch's key) or any
        retry of it that a commit wrote. None if no branch did, or there is no such group."""

    async def load_branches(self, group_id: str) -> list[BranchState]:
        """Every branch of the group, in no particular order ([] if none). Reads all of them: the
        aggregator calls it once, when the last branch settles."""

    async def commit_group(
        self, state: GroupState, expected_version: int, branches: Sequence[BranchState] = ()
    ) -> None:
        """Write ``state`` as version ``expected_version + 1`` together with ``branches`` (each under
        its key, replacing the stored one; the id of its current task then finds it too), in one
        atomic step; or raise ``VersionConflict`` and write nothing. A done or cancelled group
        expires, branches included, as a finished job does (where the store expires those)."""

    async def get_progress(self, job_id: str) -> tuple[float, str | None] | None: ...

    # -- deadlines -------------------------------------------------------------------------
    async def schedule(self, item: Scheduled) -> None: ...

    async def due(self, now: float, limit: int) -> list[Scheduled]: ...

    async def unschedule(self, envelope_ids: Sequence[str]) -> None: ...

    async def next_due(self) -> float | None: ...

    # -- tasks -----------------------------------------------------------------------------
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

    # -- workers ---------------------------------------------------------------------------
    async def put_worker(self, record: WorkerRecord) -> None: ...

    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        """Workers whose registration has not expired."""

    async def capable_workers(self, skill: str, now: float) -> list[WorkerRecord]:
        """Workers having ``skill`` whose registration has not expired, in no particular order
        (the Redis store reads the skill's capability set)."""

    async def reservations(self, workers: Sequence[WorkerRecord]) -> dict[str, int]:
        """Tasks pushed reserved for each worker, with ``counted_since`` its current ``last_seen``,
        since that heartbeat (0 when none: a newer heartbeat starts from zero). Shared by every
        router, so nodes do not pile work on the same worker between beats."""

    # -- cancellation notices --------------------------------------------------------------
    async def announce_cancels(self, notices: Sequence[CancelNotice]) -> None:
        """Hand ``notices`` (each naming its worker) to every ``cancel_notices`` subscription open
        now, in this process and in every other sharing the store, in the order given. Best
        effort: never raises for an unreachable server (it logs); nothing is kept for later."""

    def cancel_notices(self) -> Subscription[CancelNotice]:
        """Subscribe to the notices announced from now on (the store must be connected). Iterate
        it; close it when done. Closing the store ends it."""

    async def close(self) -> None: ...
