"""Drive an actor from its mailbox: per-key ordering, bounded concurrency, ack after commit.

Deliveries of different keys run concurrently; deliveries of one key run one at a time, in
delivery order. A delivery is acked only after its handler returned, i.e. after the state it
produced was committed and its effects published.

A failing delivery is retried *in place*, holding its key, so the messages behind it never
overtake it and never spend its retries:

- a retryable error (``AvtomatError.retryable``: the store or broker ``Unavailable``, a lost
  compare-and-set) is retried with capped exponential back-off, uncounted, until the handler
  succeeds or the consumer stops delivering; then the delivery is left unsettled, and closing
  the consumer returns it to the broker as any unacked delivery. It is never nacked, so an
  outage grows no redelivery count and dead-letters nothing;
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


def is_retryable(exc: Exception) -> bool:
    return isinstance(exc, AvtomatError) and exc.retryable


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
        self._stopping = asyncio.Event()

    async def run(self, consumer: Consumer) -> None:
        """Consume until the consumer stops delivering; in-flight deliveries finish first, except
        those waiting to retry a retryable error, which are left unsettled for the consumer's close."""
        self._stopping.clear()
        async with asyncio.TaskGroup() as tg:
            async for delivery in consumer:
                key = delivery.envelope.key
                if key in self._queued:
                    self._queued[key].append(delivery)
                else:
                    self._queued[key] = deque()
                    tg.create_task(self._drain(key, delivery))
            self._stopping.set()

    async def _drain(self, key: str, delivery: Delivery) -> None:
        queued = self._queued[key]
        current: Delivery | None = delivery
        try:
            while current is not None:
                outcome = await self._process(current)
                if outcome is None:
                    return  # stopping: this one and those behind it stay unacked, in order
                await self._settle(current, outcome)
                current = queued.popleft() if queued else None
        finally:
            del self._queued[key]

    async def _process(self, delivery: Delivery) -> bool | None:
        """Run the handler until it succeeds (True), the message proves poisonous (False), or the
        consumer stops while a retryable error is being retried (None: leave it unsettled)."""
        env, failures, attempt = delivery.envelope, 0, 0
        while True:
            try:
                await self._handler(env)
                return True
            except Exception as exc:
                retrying = is_retryable(exc)
                if retrying:
                    if self._stopping.is_set():
                        log.warning("%s: %s hit %s; left for redelivery (stopping)", self.name, env.id, exc)
                        return None
                    log.warning("%s: %s hit %s; retrying", self.name, env.id, exc)
                else:
                    failures += 1
                    log.exception("%s: handling %s failed (%d/%d)", self.name, env.id, failures, self._max_failures)
                    if failures >= self._max_failures:
                        return False
            delay = min(self._backoff * 2**attempt, self._max_backoff)
            await (self._pause(delay) if retrying else self._sleep(delay))
            attempt += 1

    async def _pause(self, delay: float) -> None:
        """Back off for ``delay``, or less if the consumer stops meanwhile."""
        sleeping = asyncio.ensure_future(self._sleep(delay))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopping.cancel()

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
