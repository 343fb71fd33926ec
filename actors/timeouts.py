"""The timeouts actor: fires deferred messages (deadlines, retry back-offs) when they are due.

Entries are read, published, then removed; a crash in between publishes them again, and the job
de-duplicates by envelope id. All deadlines use the one epoch clock.

With ``locks``, only the leader fires: every node runs the actor, one holds the ``timeouts``
lock (renewed every third of ``lease`` seconds) and the others retry taking it at the same
pace, so a leader that dies is replaced within about ``lease * 4/3`` seconds. A leader whose
renewal fails stops firing at once; if a paused ex-leader still fires a batch, the duplicates
are harmless (idempotent receivers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from transport.broker import Broker
from transport.locks import Locks
from transport.store import Store

log = logging.getLogger(__name__)

LOCK_NAME = "timeouts"


class TimeoutsActor:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        clock: Callable[[], float],
        *,
        locks: Locks | None = None,
        holder: str = "node",
        lease: float = 3.0,
        tick: float = 0.05,
        batch: int = 500,
    ) -> None:
        self._store, self._broker, self._clock = store, broker, clock
        self._locks, self._holder, self._lease = locks, holder, lease
        self._tick, self._batch = tick, batch
        self._token: int | None = None
        self._checked_at = float("-inf")

    @property
    def leading(self) -> bool:
        return self._locks is None or self._token is not None

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

    async def lead(self) -> bool:
        """Take or keep leadership; talks to the lock store at most every ``lease / 3`` seconds."""
        if self._locks is None:
            return True
        now = self._clock()
        if now - self._checked_at < self._lease / 3:
            return self._token is not None
        self._checked_at = now
        if self._token is not None:
            if await self._locks.renew(LOCK_NAME, self._holder, self._token, self._lease):
                return True
            log.warning("%s lost the timeouts lock (token %d)", self._holder, self._token)
            self._token = None
        self._token = await self._locks.acquire(LOCK_NAME, self._holder, self._lease)
        if self._token is not None:
            log.info("%s leads the timeouts actor (fencing token %d)", self._holder, self._token)
        return self._token is not None

    async def run(self) -> None:
        try:
            while True:
                wait = self._tick
                if await self.lead():
                    await self.fire_due()
                    next_at = await self._store.next_due()
                    if next_at is not None:
                        wait = min(self._tick, max(next_at - self._clock(), 0.0))
                await asyncio.sleep(wait)
        finally:
            await self._resign()

    async def _resign(self) -> None:
        token, self._token = self._token, None
        if self._locks is not None and token is not None:
            with contextlib.suppress(Exception):
                await self._locks.release(LOCK_NAME, self._holder, token)
