"""The timeouts actor: fires deferred messages (deadlines, retry back-offs) when they are due, and
sweeps expired task leases.

Entries are read, published, then removed; a crash in between publishes them again, and the job
de-duplicates by envelope id. All deadlines use the one epoch clock.

Leases (docs/adr/0005-task-leases.md): a task handed to a worker is leased to it until a few
heartbeats' time from its last heartbeat. About once every ``sweep_every`` seconds the leader
reads the leases that expired, tells each task's owner (the job's mailbox, or the group's
aggregator for a fan-out branch) with ``TaskLost`` (envelope id ``lost:{task id}``), then drops
the lease. A crash in between reports it again; the owner ignores the duplicate, and any
``TaskLost`` that no longer applies (the task was reported or retried meanwhile).

With ``locks``, only the leader fires (``actors.leadership``, lock ``timeouts``): a leader that
dies is replaced within about ``lease * 4/3`` seconds, and one whose renewal fails stops firing
at once; if a paused ex-leader still fires a batch, the duplicates are harmless (idempotent
receivers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from actors.leadership import Leadership
from actors.ports.broker import Broker
from actors.ports.locks import Locks
from actors.ports.store import DeadlineStore, Lease, LeaseStore
from engine import defaults, routes
from engine.messages import TaskLost, envelope

log = logging.getLogger(__name__)

LOCK_NAME = "timeouts"


class TimeoutsStore(DeadlineStore, LeaseStore, Protocol):
    """What the timeouts actor needs of the store: the deadlines it fires, the leases it sweeps."""


class TimeoutsActor:
    def __init__(
        self,
        store: TimeoutsStore,
        broker: Broker,
        clock: Callable[[], float],
        *,
        locks: Locks | None = None,
        holder: str = "node",
        lease: float = defaults.LOCK_LEASE_SECONDS,
        tick: float = 0.05,
        batch: int = 500,
        sweep_every: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store, self._broker, self._clock = store, broker, clock
        self._leadership = Leadership(locks, LOCK_NAME, holder, clock, lease)
        self._tick, self._batch, self._sweep_every = tick, batch, sweep_every
        self._sleep = sleep  # between ticks; tests inject a fake clock's
        self._swept_at = float("-inf")

    @property
    def leading(self) -> bool:
        return self._leadership.leading

    async def fire_due(self) -> int:
        """Publish every entry due now; returns how many fired."""
        fired = 0
        while True:
            due = await self._store.due(self._clock(), self._batch)
            for item in due:
                await self._broker.publish(item.route, item.envelope)
            await self._store.unschedule([item.envelope.id for item in due])
            fired += len(due)
            if len(due) < self._batch:
                return fired

    async def sweep_leases(self) -> int:
        """Report every task lease expired now as ``TaskLost`` to its owner, then release it;
        returns how many were swept."""
        swept = 0
        while True:
            now = self._clock()
            expired = await self._store.expired_leases(now, self._batch)
            for lease in expired:
                route, key = _owner(lease)
                lost = TaskLost(task_id=lease.task_id, worker_id=lease.worker_id)
                await self._broker.publish(route, envelope(key, lost, now, id=f"lost:{lease.task_id}"))
                await self._store.release_lease(lease.task_id)
                log.info("task %s lost: worker %s stopped heartbeating it", lease.task_id, lease.worker_id)
            swept += len(expired)
            if len(expired) < self._batch:
                return swept

    async def _sweep_if_due(self) -> None:
        now = self._clock()
        if now - self._swept_at >= self._sweep_every:
            self._swept_at = now
            await self.sweep_leases()

    async def lead(self) -> bool:
        """Take or keep leadership (``Leadership.lead``)."""
        return await self._leadership.lead()

    async def run(self) -> None:
        try:
            while True:
                wait = self._tick
                if await self.lead():
                    await self.fire_due()
                    await self._sweep_if_due()
                    next_at = await self._store.next_due()
                    if next_at is not None:
                        wait = min(self._tick, max(next_at - self._clock(), 0.0))
                await self._sleep(wait)
        finally:
            await self._leadership.resign()


def _owner(lease: Lease) -> tuple[str, str]:
    """The mailbox that owns a leased task: its group's aggregator for a branch, else its job."""
    if lease.group_id is not None:
        return routes.AGGREGATOR, lease.group_id
    return routes.JOBS, lease.job_id
