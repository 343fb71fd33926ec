"""The task queue and the leases on Redis.

Tasks wait in a sorted set per skill with their offers (and the router's reservations, and the
reserved workers' load counts) in hashes. A taken task's lease is a key beside one sorted set of
every lease's expiry, which the sweeper reads.

Waiting takers hold no Redis connection: they park on an in-process event, woken by this store's
pushes and by the store's pub/sub subscription (pushes on other nodes, ``RedisStore``), and
re-check every ``poll_interval`` seconds in case a notification was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

import msgspec
from redis.typing import EncodableT

from actors.ports.store import RESERVATION_SCAN_LIMIT, Contender, Lease, WorkerRecord
from engine.job import JobState, decode_state
from engine.messages import TaskOffer
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder

# A backstop: leases are released when their task is reported or swept; one that is not (a process
# died in between) still cleans itself up this long after its last extension.
LEASE_TTL_SECONDS = 7 * 24 * 3600

_offer = msgspec.msgpack.Decoder(TaskOffer)
_lease = msgspec.msgpack.Decoder(Lease)


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisTasks(RedisPart):
    """``TaskQueue`` and ``LeaseStore`` on Redis. ``priority_aging``: seconds of waiting one unit
    of priority is worth; ``poll_interval`` bounds how long a waiting taker can miss a lost
    pub/sub notification."""

    def __init__(self, client: RedisClient, *, poll_interval: float, priority_aging: float) -> None:
        RedisPart.__init__(self, client)
        self._poll_interval = poll_interval
        self._priority_aging = priority_aging
        self._push_task, self._take_task = client.script("push_task"), client.script("take_task")
        self._extend_leases, self._expired_leases = client.script("extend_leases"), client.script("expired_leases")
        self._release_lease = client.script("release_lease")
        self._waiters: dict[str, dict[asyncio.Event, str]] = {}  # skill -> waiting takers -> their worker
        self._origin = uuid.uuid4().hex  # names this store's pushes on the task channel
        self._parked_events: set[asyncio.Event] = set()  # of takers waiting on their event

    async def push_task(
        self,
        offer: TaskOffer,
        *,
        reserved_for: str | None = None,
        reserved_until: float = 0.0,
        counted_since: float | None = None,
        now: float | None = None,
    ) -> None:
        """Queue ``offer`` for its skill, reserved for ``reserved_for`` until ``reserved_until`` if
        given (counted towards its load since ``counted_since``), and announce it; a no-op if the
        task id is queued or leased (one script). Its score in the skill's sorted set is ``now``
        (default: this process's clock) minus ``priority * priority_aging``; ties are taken in push
        order across all nodes. Nodes' clocks should agree to well within ``priority_aging``."""
        if reserved_for is None:
            reservation: list[EncodableT] = [b"", "", ""]
        else:
            since = "" if counted_since is None else repr(counted_since)
            reservation = [encoder.encode((reserved_for, reserved_until)), reserved_for, since]
        await self._push(offer, now, reservation, reserved_for)

    async def push_task_reserved(
        self, offer: TaskOffer, contenders: Sequence[Contender], *, reserved_until: float, now: float | None = None
    ) -> str | None:
        """One script: reads the contenders' counts, chooses, queues and counts (``push_task``)."""
        if not contenders:
            await self.push_task(offer, now=now)
            return None
        chosen: list[EncodableT] = [b"", "", "", repr(reserved_until)]
        for c in contenders:
            chosen += [c.worker_id, repr(c.last_seen), c.base_load, c.tier]
        reply = await self._push(offer, now, chosen, None)
        return reply.decode() if isinstance(reply, bytes) else None

    async def _push(
        self, offer: TaskOffer, now: float | None, reservation: list[EncodableT], reserved_for: str | None
    ) -> Any:
        """Run the push script (``lua/push_task.lua``) with ``reservation``'s arguments; its reply.
        A queued task wakes this store's takers it may be for (``_wake``)."""
        p = self._prefix
        push_keys = [keys.task_queue(p, offer.type), keys.task_offers(p), keys.task_jobs(p), keys.task_seq(p)]
        push_keys += [keys.lease(p, offer.task_id), keys.task_groups(p), keys.task_reservations(p)]
        score = (time.time() if now is None else now) - offer.priority * self._priority_aging
        args: list[EncodableT] = [offer.task_id, offer.job_id, repr(score), encoder.encode(offer)]
        args += [keys.task_channel(p), f"{offer.type}\0{self._origin}", offer.group_id or "", *reservation]
        reply = await self._batch.script(self._push_task, [*push_keys, keys.worker_load(p)], args)
        if reply:  # our own takers need not wait for the round trip through pub/sub
            self._wake(offer.type, reply.decode() if isinstance(reply, bytes) else reserved_for)
        return reply

    async def take_task(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> TaskOffer | None:
        """Take the best queued task of ``skills``, waiting up to ``timeout`` s (0: no wait, but a
        queued task is still handed out). Pop and lease are one script, so a task goes to exactly
        one taker; the lease expires at ``now + lease_seconds`` unless extended. Waiting holds no
        Redis connection; see ``waiting_takers``. A task reserved for another worker is skipped
        (up to ``RESERVATION_SCAN_LIMIT`` per skill); a parked taker sees a reservation lapse at
        its next periodic re-check (``poll_interval``), its clock being ``now`` plus the time
        it has waited."""
        raw = await self._take(worker_id, skills, timeout, now, now + lease_seconds, "")
        return None if raw is None else _offer.decode(raw)

    async def take_task_with_job(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> tuple[TaskOffer, JobState | None] | None:
        """``take_task`` whose script also reads the task's job: the same one round trip."""
        raw = await self._take(worker_id, skills, timeout, now, now + lease_seconds, keys.job_family(self._prefix))
        if raw is None:
            return None
        offer, version, blob = cast("list[bytes | None]", raw)
        assert offer is not None
        if version is None or blob is None:
            return _offer.decode(offer), None
        state = decode_state(blob)
        state.version = int(version)  # ``v`` is authoritative, as in ``load_job``
        return _offer.decode(offer), state

    async def _take(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, expires_at: float, job_family: str
    ) -> Any:
        """The take script's reply for the first attempt that took a task within ``timeout``, or None."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(timeout, 0.0)
        event = asyncio.Event()
        with self._registered(worker_id, skills, event):
            while True:
                event.clear()  # before the attempt: a push during it sets the event again
                current = now + (loop.time() - started)
                raw = await self._take_once(worker_id, skills, now, expires_at, current, job_family)
                remaining = deadline - loop.time()
                if raw is not None or remaining <= 0:
                    return raw
                self._parked_events.add(event)
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(remaining, self._poll_interval)):
                            await event.wait()
                finally:
                    self._parked_events.discard(event)
                if self._client.closed:
                    return None

    async def reservations(self, workers: Sequence[WorkerRecord]) -> dict[str, int]:
        """Counts recorded against each worker's current heartbeat; an older one counts 0."""
        if not workers:
            return {}
        ids = [w.worker_id for w in workers]
        raws = cast("list[bytes | None]", await self._batch.execute("HMGET", keys.worker_load(self._prefix), *ids))
        counts: dict[str, int] = {}
        for worker, raw in zip(workers, raws, strict=True):
            since, _, count = (raw or b"").decode().partition(":")
            counts[worker.worker_id] = int(count) if raw and since == repr(worker.last_seen) else 0
        return counts

    async def queue_depths(self, skills: Sequence[str]) -> dict[str, int]:
        depths = [self._batch.execute("ZCARD", keys.task_queue(self._prefix, skill)) for skill in skills]
        return dict(zip(skills, map(int, await asyncio.gather(*depths)), strict=True))

    @property
    def waiting_takers(self) -> int:
        """``take_task`` calls of this store parked, waiting for a push (a gauge for metrics)."""
        return len(self._parked_events)

    async def _take_once(
        self, worker_id: str, skills: Sequence[str], now: float, expires_at: float, current: float, job_family: str
    ) -> Any:
        p = self._prefix
        take_keys = [keys.task_offers(p), keys.task_jobs(p), keys.task_groups(p), keys.lease_expiry(p)]
        take_keys += [keys.task_reservations(p), *(keys.task_queue(p, skill) for skill in skills)]
        backstop_ms = LEASE_TTL_SECONDS * 1000
        args: list[EncodableT] = [keys.lease_family(p), worker_id, repr(now), backstop_ms, repr(expires_at)]
        args += [repr(current), RESERVATION_SCAN_LIMIT, job_family]
        return await self._batch.script(self._take_task, take_keys, args)

    @contextlib.contextmanager
    def _registered(self, worker_id: str, skills: Sequence[str], event: asyncio.Event) -> Iterator[None]:
        for skill in skills:
            self._waiters.setdefault(skill, {})[event] = worker_id
        try:
            yield
        finally:
            for skill in skills:
                takers = self._waiters.get(skill)
                if takers is not None:
                    takers.pop(event, None)
                    if not takers:
                        del self._waiters[skill]

    def _announced(self, message: str) -> None:
        """A push announced on the task channel: ``skill NUL origin NUL reserved worker`` (or
        ``skill`` alone: all its takers wake). This store's own pushes woke its takers already."""
        skill, origin, reserved_for = (*message.split("\0", 2), "", "")[:3]
        if not origin:
            self._wake_all_of(skill)
        elif origin != self._origin:
            self._wake(skill, reserved_for or None)

    def _wake(self, skill: str, reserved_for: str | None) -> None:
        """Wake the takers a pushed task may be for: those of ``reserved_for`` (reserved for it),
        else those of every worker; of each such worker, one parked taker not woken yet: one
        taker gets the task, and a worker's takers are alike. A worker with none such has its
        takers that are trying right now woken (each tries again unless it got a task), and its
        takers woken already will try anyway. A taker cancelled right after its wake leaves its
        worker's others to their re-check (``poll_interval``), as a lost notification does."""
        woken: set[str] = set()
        trying: dict[str, list[asyncio.Event]] = {}
        for event, worker in self._waiters.get(skill, {}).items():
            if worker in woken or (reserved_for is not None and worker != reserved_for):
                continue
            if event not in self._parked_events:
                trying.setdefault(worker, []).append(event)
            elif not event.is_set():
                event.set()
                woken.add(worker)
        for worker, events in trying.items():
            if worker not in woken:
                for event in events:
                    event.set()

    def _wake_all_of(self, skill: str) -> None:
        for event in self._waiters.get(skill, {}):
            event.set()

    def _wake_all(self) -> None:
        for takers in self._waiters.values():
            for event in takers:
                event.set()

    # -- leases ----------------------------------------------------------------------------

    async def get_lease(self, task_id: str) -> Lease | None:
        raw = await self._get(keys.lease(self._prefix, task_id))
        return None if raw is None else _lease.decode(raw)

    async def extend_leases(self, worker_id: str, task_ids: Sequence[str], until: float) -> list[str]:
        """One script: the worker's leases among ``task_ids`` expire at ``until`` (never earlier than
        before) and their backstop TTL starts again."""
        if not task_ids:
            return []
        p = self._prefix
        lease_keys = [keys.lease_expiry(p), *(keys.lease(p, task_id) for task_id in task_ids)]
        args: list[EncodableT] = [worker_id, repr(until), LEASE_TTL_SECONDS * 1000, *task_ids]
        held = cast("list[bytes]", await self._extend_leases(keys=lease_keys, args=args))
        return [task_id.decode() for task_id in held]

    async def expired_leases(self, now: float, limit: int) -> list[Lease]:
        """Leases with ``expires_at <= now``, earliest first (equal times by task id); not removed."""
        if limit <= 0:
            return []
        p = self._prefix
        args: list[EncodableT] = [keys.lease_family(p), repr(now), limit]
        raws = cast("list[bytes]", await self._expired_leases(keys=[keys.lease_expiry(p)], args=args))
        return [_lease.decode(raw) for raw in raws]

    async def release_lease(self, task_id: str) -> None:
        """Delete the lease and its expiry entry (one script); unknown ids are ignored."""
        lease_keys = [keys.lease(self._prefix, task_id), keys.lease_expiry(self._prefix)]
        await self._batch.script(self._release_lease, lease_keys, [task_id])
