"""The timeouts actor: fires deferred messages (deadlines, retry back-offs) when they are due.

Entries are read, published, then removed; a crash in between publishes them again, and the job
de-duplicates by envelope id. All deadlines use the one epoch clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from transport.broker import Broker
from transport.store import Store


class TimeoutsActor:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        clock: Callable[[], float],
        *,
        tick: float = 0.05,
        batch: int = 500,
    ) -> None:
        self._store, self._broker, self._clock = store, broker, clock
        self._tick, self._batch = tick, batch

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

    async def run(self) -> None:
        while True:
            await self.fire_due()
            next_at = await self._store.next_due()
            wait = self._tick if next_at is None else min(self._tick, max(next_at - self._clock(), 0.0))
            await asyncio.sleep(wait)
