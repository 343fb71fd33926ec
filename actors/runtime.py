"""Drive an actor from its mailbox: per-key ordering, bounded concurrency, ack after commit.

Deliveries of different keys run concurrently; deliveries of one key run one at a time, in
delivery order. A delivery is acked only after its handler returned, i.e. after the state it
produced was committed and its effects published.

A failing delivery is retried *in place*, holding its key, so the messages behind it never
overtake it and never spend its retries:

- infrastructure trouble (``OSError``, ``TimeoutError``, a retryable ``AvtomatError`` such as a
  lost compare-and-set) is retried with capped exponential back-off for as long as it lasts;
- any other exception is a poison message: after ``max_failures`` attempts it is dead-lettered
  (``nack(requeue=False)``), where it can be inspected, and the key moves on.

The broker redelivers only what a dead node or a closed consumer left unacked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from actors.ports.broker import Consumer, Delivery
from engine.errors import AvtomatError
from engine.messages import Envelope

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]
TRANSIENT = (OSError, TimeoutError)


def is_transient(exc: Exception) -> bool:
    return isinstance(exc, TRANSIENT) or (isinstance(exc, AvtomatError) and exc.retryable)


class KeyedRunner:
    def __init__(
        self,
        name: str,
        handler: Handler,
        *,
        max_failures: int = 5,
        backoff: float = 0.05,
        max_backoff: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self._handler = handler
        self._max_failures = max_failures
        self._backoff, self._max_backoff, self._sleep = backoff, max_backoff, sleep
        self._queued: dict[str, deque[Delivery]] = {}

    async def run(self, consumer: Consumer) -> None:
        """Consume until the consumer stops delivering; in-flight deliveries finish first."""
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
        try:
            while current is not None:
                await self._settle(current, await self._process(current))
                current = queued.popleft() if queued else None
        finally:
            del self._queued[key]

    async def _process(self, delivery: Delivery) -> bool:
        """Run the handler until it succeeds (True) or the message proves poisonous (False)."""
        env, failures, attempt = delivery.envelope, 0, 0
        while True:
            try:
                await self._handler(env)
                return True
            except Exception as exc:
                if is_transient(exc):
                    log.warning("%s: %s hit %s; retrying", self.name, env.id, exc)
                else:
                    failures += 1
                    log.exception("%s: handling %s failed (%d/%d)", self.name, env.id, failures, self._max_failures)
                    if failures >= self._max_failures:
                        return False
            await self._sleep(min(self._backoff * 2**attempt, self._max_backoff))
            attempt += 1

    async def _settle(self, delivery: Delivery, ok: bool) -> None:
        """Ack or dead-letter. If the channel is gone the broker redelivers, which is safe."""
        try:
            if ok:
                await delivery.ack()
            else:
                log.error("%s: dead-lettering %s", self.name, delivery.envelope.id)
                await delivery.nack(requeue=False)
        except Exception:
            log.exception("%s: could not settle %s; the broker will redeliver it", self.name, delivery.envelope.id)
