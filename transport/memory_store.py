"""The in-memory store: the Redis store's semantics in one process.

Values are kept encoded (msgpack) so callers never share mutable state with the store, and a
commit is a compare-and-set on the version, exactly as the Redis Lua script does it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from actors.ports.archive import JobQuery
from actors.ports.notices import Fanout, Subscription
from actors.ports.store import RESERVATION_SCAN_LIMIT, Contender, Fire, Lease, Scheduled, WorkerRecord
from engine.defaults import JOB_HISTORY_LIMIT, TASK_PRIORITY_AGING_SECONDS
from engine.errors import VersionConflict
from engine.group import BranchState, GroupState, decode_branch, decode_group, encode_branch, encode_group
from engine.history import HistoryEvent, decode_event, encode_event
from engine.job import QUARANTINED, JobState, decode_state, encode_state
from engine.messages import CancelNotice, TaskOffer
from transport.memory_archive import MemoryArchiveFeed
from transport.memory_sts import MemorySts
from transport.memory_tenancy import MemoryTenancy
from transport.memory_webhooks import MemoryWebhooks


@dataclass(order=True, slots=True)
class _Queued:
    sort_key: tuple[float, int]  # (score, push sequence): lowest first, as the Redis sorted set
    offer: TaskOffer = field(compare=False)
    reserved_for: str | None = field(default=None, compare=False)
    reserved_until: float = field(default=0.0, compare=False)

    def reserved_against(self, worker_id: str, now: float) -> bool:
        """Reserved for another worker, and the reservation has not lapsed at ``now``."""
        return self.reserved_for not in (None, worker_id) and self.reserved_until > now


@dataclass(slots=True)
class _Group:
    """A group as the Redis hash keeps it: version, header, branches by key, and the branch key of
    every retried task id."""

    version: int
    header: bytes
    branches: dict[str, bytes] = field(default_factory=dict)
    retried: dict[str, str] = field(default_factory=dict)


class MemoryStore(MemoryWebhooks, MemoryTenancy, MemorySts):
    """``Store`` in memory. With ``archive_feed``, every job creation and commit is appended to it
    in the same step (the archive's feed on the embedded runtime)."""

    def __init__(
        self,
        *,
        history_limit: int = JOB_HISTORY_LIMIT,
        priority_aging: float = TASK_PRIORITY_AGING_SECONDS,
        archive_feed: MemoryArchiveFeed | None = None,
    ) -> None:
        MemoryWebhooks.__init__(self)
        MemorySts.__init__(self)
        self._feed = archive_feed
        self._jobs: dict[str, bytes] = {}
        self._history: dict[str, list[bytes]] = {}
        self._history_limit = history_limit
        self._quarantined: dict[str, dict[str, float]] = {}  # client id -> job id -> finished_at
        self._claims: dict[str, float] = {}  # name -> expires at (monotonic)
        self._groups: dict[str, _Group] = {}
        self._progress: dict[str, tuple[float, str | None]] = {}
        self._deadlines: dict[str, Scheduled] = {}
        self._deadline_heap: list[tuple[float, str]] = []  # lazily pruned: ids may be gone
        self._claimed: dict[str, Scheduled] = {}  # returned by due(), not yet unscheduled
        self._tasks: dict[str, list[_Queued]] = {}  # per skill, kept sorted: best first
        self._queued_ids: set[str] = set()
        self._seq = 0
        self._priority_aging = priority_aging  # seconds of waiting one unit of priority is worth
        self._task_added = asyncio.Condition()
        self._leases: dict[str, Lease] = {}
        self._workers: dict[str, bytes] = {}
        self._reservations: dict[str, tuple[float, int]] = {}  # worker -> (heartbeat, reserved since)
        self._cancels: Fanout[CancelNotice] = Fanout()
        self._fires: dict[str, Fire] = {}  # schedule name -> its last fire
        self._holon_tasks: dict[str, float] = {}
        MemoryTenancy.__init__(self)

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(self, state: JobState) -> bool:
        if state.id in self._jobs:
            return False
        self._jobs[state.id] = encode_state(msgspec.structs.replace(state, version=1))
        if self._feed is not None:
            self._feed.append(self._jobs[state.id])
        return True

    async def load_job(self, job_id: str) -> JobState | None:
        raw = self._jobs.get(job_id)
        return None if raw is None else decode_state(raw)

    async def commit_job(
        self,
        state: JobState,
        expected_version: int,
        *,
        schedule: Sequence[Scheduled] = (),
        unschedule: Sequence[str] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        raw = self._jobs.get(state.id)
        current = None if raw is None else decode_state(raw).version
        if current != expected_version:
            raise VersionConflict(f"job {state.id}: expected version {expected_version}, found {current}")
        state.version = expected_version + 1
        self._jobs[state.id] = encode_state(state)
        events = [encode_event(event) for event in history[-self._history_limit :]]
        if events:
            kept = self._history.setdefault(state.id, [])
            kept += events
            del kept[: -self._history_limit]
        if self._feed is not None:
            self._feed.append(self._jobs[state.id], events)
        index = self._quarantined.setdefault(state.client_id, {})
        if state.status == QUARANTINED:
            index[state.id] = state.finished_at or 0.0
        else:
            index.pop(state.id, None)
        self._unschedule(unschedule)
        for item in schedule:
            self._schedule(item)

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        return [decode_event(raw) for raw in self._history.get(job_id, [])]

    async def list_jobs(self, query: JobQuery) -> list[JobState]:
        found = [state for state in map(decode_state, self._jobs.values()) if query.admits(state)]
        found.sort(key=lambda state: (state.created_at, state.id), reverse=True)
        return found[: query.limit]

    async def quarantined_jobs(self, client_id: str, limit: int) -> list[JobState]:
        index = self._quarantined.get(client_id, {})
        oldest_first = sorted(index, key=lambda job_id: (index[job_id], job_id))[:limit]
        return [decode_state(self._jobs[job_id]) for job_id in oldest_first]

    async def claim(self, name: str, ttl: float) -> bool:
        now = time.monotonic()
        if self._claims.get(name, 0.0) > now:
            return False
        self._claims[name] = now + ttl
        return True

    async def release_claim(self, name: str) -> None:
        self._claims.pop(name, None)

    async def set_progress(self, job_id: str, progress: float, message: str | None) -> None:
        self._progress[job_id] = (progress, message)

    async def get_progress(self, job_id: str) -> tuple[float, str | None] | None:
        return self._progress.get(job_id)

    # -- fan-out groups --------------------------------------------------------------------

    async def create_group(self, state: GroupState) -> bool:
        if state.id in self._groups:
            return False
        self._groups[state.id] = _Group(1, encode_group(msgspec.structs.replace(state, version=1)))
        return True

    async def load_group(self, group_id: str) -> GroupState | None:
        stored = self._groups.get(group_id)
        return None if stored is None else decode_group(stored.header)

    async def load_branch(self, group_id: str, task_id: str) -> BranchState | None:
        stored = self._groups.get(group_id)
        if stored is None:
            return None
        raw = stored.branches.get(stored.retried.get(task_id, task_id))
        return None if raw is None else decode_branch(raw)

    async def load_branches(self, group_id: str) -> list[BranchState]:
        stored = self._groups.get(group_id)
        return [] if stored is None else [decode_branch(raw) for raw in stored.branches.values()]

    async def commit_group(
        self, state: GroupState, expected_version: int, branches: Sequence[BranchState] = ()
    ) -> None:
        stored = self._groups.get(state.id)
        current = None if stored is None else stored.version
        if stored is None or current != expected_version:
            raise VersionConflict(f"group {state.id}: expected version {expected_version}, found {current}")
        state.version = stored.version = expected_version + 1
        stored.header = encode_group(state)
        for branch in branches:
            stored.branches[branch.key] = encode_branch(branch)
            if branch.task.id != branch.key:
                stored.retried[branch.task.id] = branch.key

    # -- deadlines -------------------------------------------------------------------------

    async def schedule(self, item: Scheduled) -> None:
        self._schedule(item)

    def _schedule(self, item: Scheduled) -> None:
        if item.envelope.id in self._deadlines:
            return
        self._deadlines[item.envelope.id] = item
        heapq.heappush(self._deadline_heap, (item.at, item.envelope.id))

    async def due(self, now: float, limit: int) -> list[Scheduled]:
        """Entries due at ``now``, earliest first; they stay scheduled until ``unschedule``."""
        heap = self._deadline_heap
        while heap and heap[0][0] <= now:
            at, envelope_id = heapq.heappop(heap)
            if self._is_live(at, envelope_id):
                self._claimed[envelope_id] = self._deadlines[envelope_id]
        return sorted((s for s in self._claimed.values() if s.at <= now), key=lambda s: s.at)[:limit]

    async def unschedule(self, envelope_ids: Sequence[str]) -> None:
        self._unschedule(envelope_ids)

    def _unschedule(self, envelope_ids: Sequence[str]) -> None:
        for envelope_id in envelope_ids:
            self._deadlines.pop(envelope_id, None)
            self._claimed.pop(envelope_id, None)

    async def next_due(self) -> float | None:
        heap = self._deadline_heap
        while heap and not self._is_live(*heap[0]):
            heapq.heappop(heap)
        candidates = [s.at for s in self._claimed.values()] + ([heap[0][0]] if heap else [])
        return min(candidates, default=None)

    def _is_live(self, at: float, envelope_id: str) -> bool:
        """A heap entry is live unless its deadline was removed or rescheduled at another time."""
        item = self._deadlines.get(envelope_id)
        return item is not None and item.at == at

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
        if offer.task_id in self._queued_ids or offer.task_id in self._leases:
            return
        if reserved_for is not None and counted_since is not None:
            since, count = self._reservations.get(reserved_for, (counted_since, 0))
            self._reservations[reserved_for] = (counted_since, count + 1 if since == counted_since else 1)
        self._seq += 1
        self._queued_ids.add(offer.task_id)
        # priority aging, as the Redis store: the lowest score is taken first (actors/ports/store.py)
        score = (time.time() if now is None else now) - offer.priority * self._priority_aging
        queued = _Queued((score, self._seq), offer, reserved_for, reserved_until)
        bisect.insort(self._tasks.setdefault(offer.type, []), queued)
        async with self._task_added:
            self._task_added.notify_all()

    async def push_task_reserved(
        self, offer: TaskOffer, contenders: Sequence[Contender], *, reserved_until: float, now: float | None = None
    ) -> str | None:
        if offer.task_id in self._queued_ids or offer.task_id in self._leases:
            return None
        best: tuple[int, int, int] | None = None
        chosen: Contender | None = None
        for order, contender in enumerate(contenders):
            since, count = self._reservations.get(contender.worker_id, (contender.last_seen, 0))
            load = contender.base_load + (count if since == contender.last_seen else 0)
            if best is None or (contender.tier, load, order) < best:
                best, chosen = (contender.tier, load, order), contender
        if chosen is None:
            await self.push_task(offer, now=now)
            return None
        await self.push_task(
            offer, reserved_for=chosen.worker_id, reserved_until=reserved_until, counted_since=chosen.last_seen, now=now
        )
        return chosen.worker_id

    async def take_task(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> TaskOffer | None:
        """As the Redis store: a waiting taker re-checks on every push and when a reservation it
        skipped lapses (its clock for that is ``now`` plus the loop time elapsed since the call)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(timeout, 0.0)
        async with self._task_added:
            while True:
                current = now + (loop.time() - started)
                found, lapses_at = self._best(worker_id, skills, current)
                if found is not None:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                wait = remaining if lapses_at is None else min(remaining, lapses_at - current)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._task_added.wait(), wait)
            skill, index = found
            offer = self._tasks[skill].pop(index).offer
        self._queued_ids.discard(offer.task_id)
        expires_at = now + lease_seconds
        self._leases[offer.task_id] = Lease(offer.task_id, offer.job_id, worker_id, now, expires_at, offer.group_id)
        return offer

    async def take_task_with_job(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> tuple[TaskOffer, JobState | None] | None:
        offer = await self.take_task(worker_id, skills, timeout, now, lease_seconds=lease_seconds)
        if offer is None:
            return None
        raw = self._jobs.get(offer.job_id)  # no await since the pop: read in the same step
        return offer, None if raw is None else decode_state(raw)

    def _best(self, worker_id: str, skills: Sequence[str], now: float) -> tuple[tuple[str, int] | None, float | None]:
        """The (skill, index) of the best task ``worker_id`` may take at ``now`` (lowest score,
        then first pushed; up to ``RESERVATION_SCAN_LIMIT`` per skill), and the earliest lapse of a
        reservation skipped on the way (None if none was)."""
        best: tuple[tuple[float, int], str, int] | None = None
        lapses_at: float | None = None
        for skill in skills:
            for index, queued in enumerate(self._tasks.get(skill, [])[:RESERVATION_SCAN_LIMIT]):
                if not queued.reserved_against(worker_id, now):
                    if best is None or queued.sort_key < best[0]:
                        best = (queued.sort_key, skill, index)
                    break
                lapses_at = queued.reserved_until if lapses_at is None else min(lapses_at, queued.reserved_until)
        return (None if best is None else (best[1], best[2])), lapses_at

    async def get_lease(self, task_id: str) -> Lease | None:
        return self._leases.get(task_id)

    async def extend_leases(self, worker_id: str, task_ids: Sequence[str], until: float) -> list[str]:
        held = []
        for task_id in task_ids:
            lease = self._leases.get(task_id)
            if lease is None or lease.worker_id != worker_id:
                continue
            if until > lease.expires_at:
                self._leases[task_id] = msgspec.structs.replace(lease, expires_at=until)
            held.append(task_id)
        return held

    async def expired_leases(self, now: float, limit: int) -> list[Lease]:
        """A scan of every lease: there are as many as tasks in flight, and the sweeper calls this
        about once a second."""
        expired = [lease for lease in self._leases.values() if lease.expires_at <= now]
        return sorted(expired, key=lambda lease: (lease.expires_at, lease.task_id))[: max(limit, 0)]

    async def release_lease(self, task_id: str) -> None:
        self._leases.pop(task_id, None)

    # -- workers ---------------------------------------------------------------------------

    async def put_worker(self, record: WorkerRecord) -> None:
        self._workers[record.worker_id] = msgspec.msgpack.encode(record)

    async def get_worker(self, worker_id: str) -> WorkerRecord | None:
        raw = self._workers.get(worker_id)
        return None if raw is None else msgspec.msgpack.decode(raw, type=WorkerRecord)

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        records = [msgspec.msgpack.decode(raw, type=WorkerRecord) for raw in self._workers.values()]
        return [r for r in records if r.expires_at > now]

    async def capable_workers(self, skill: str, now: float) -> list[WorkerRecord]:
        return [r for r in await self.list_workers(now) if skill in r.skills]

    async def queue_depths(self, skills: Sequence[str]) -> dict[str, int]:
        return {skill: len(self._tasks.get(skill, ())) for skill in skills}

    async def reservations(self, workers: Sequence[WorkerRecord]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for worker in workers:
            since, count = self._reservations.get(worker.worker_id, (worker.last_seen, 0))
            counts[worker.worker_id] = count if since == worker.last_seen else 0
        return counts

    # -- schedules -------------------------------------------------------------------------

    async def last_fires(self, names: Sequence[str]) -> dict[str, Fire]:
        return {name: self._fires[name] for name in names if name in self._fires}

    async def record_fire(self, name: str, fire: Fire) -> bool:
        last = self._fires.get(name)
        if last is not None and last.at >= fire.at:
            return False
        self._fires[name] = fire
        return True

    # -- cancellation notices --------------------------------------------------------------

    async def announce_cancels(self, notices: Sequence[CancelNotice]) -> None:
        self._cancels.publish(notices)

    def cancel_notices(self) -> Subscription[CancelNotice]:
        return self._cancels.subscribe()

    # -- Pure Holon mode -------------------------------------------------------------------

    async def add_holon_task(self, task_id: str, accepted_at: float) -> None:
        self._holon_tasks.setdefault(task_id, accepted_at)

    async def remove_holon_task(self, task_id: str) -> None:
        self._holon_tasks.pop(task_id, None)

    async def holon_tasks(self) -> dict[str, float]:
        return dict(self._holon_tasks)

    async def close(self) -> None:
        self._cancels.close()
