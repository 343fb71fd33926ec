"""Drive an actor from its mailbox: per-key ordering, bounded concurrency, ack after commit.

Deliveries of different keys run concurrently; deliveries of one key run one at a time, in
delivery order. A delivery is acked only after its handler returned, i.e. after the state it
produced was committed and its effects published. If a handler raises, the delivery and every
delivery of the same key queued behind it are requeued (newest first, so the broker keeps their
order); after ``max_deliveries`` attempts a message is dead-lettered instead of looping forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from engine.errors import VersionConflict
from engine.messages import Envelope
from transport.broker import Consumer, Delivery

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]


class KeyedRunner:
    def __init__(self, name: str, handler: Handler, *, max_deliveries: int = 10, conflict_retries: int = 5) -> None:
        self.name = name
        self._handler = handler
        self._max_deliveries = max_deliveries
        self._conflict_retries = conflict_retries
        self._queued: dict[str, deque[Delivery]] = {}

    async def run(self, consumer: Consumer) -> None:
        """Consume until the consumer closes; in-flight handlers finish first."""
        async with asyncio.TaskGroup() as tg:
            async for delivery in consumer:
                key = delivery.envelope.key
                if key in self._queued:
                    self._queued[key].append(delivery)
                else:
                    self._queued[key] = deque()
                    tg.create_task(self._drain(key, delivery))

    async def _drain(self, key: str, delivery: Delivery) -> None:
        queued = self._queued[key]
        current: Delivery | None = delivery
        while current is not None:
            if await self._process(current):
                await current.ack()
            else:
                while queued:
                    await queued.pop().nack(requeue=True)
                await self._reject(current)
            current = queued.popleft() if queued else None
        del self._queued[key]

    async def _process(self, delivery: Delivery) -> bool:
        for _ in range(self._conflict_retries):
            try:
                await self._handler(delivery.envelope)
                return True
            except VersionConflict:
                continue  # someone committed first: reload and re-apply
            except Exception:
                log.exception("%s: handling %s failed", self.name, delivery.envelope.id)
                return False
        log.warning("%s: %s lost %d state races", self.name, delivery.envelope.id, self._conflict_retries)
        return False

    async def _reject(self, delivery: Delivery) -> None:
        dead = delivery.delivery_count >= self._max_deliveries
        if dead:
            log.error("%s: dead-lettering %s after %d deliveries", self.name, delivery.envelope.id,
                      delivery.delivery_count)
        await delivery.nack(requeue=not dead)
