"""The webhook deliverer: sends the stored deliveries that are due, and retries the failed ones.

Every node runs one. Each round it claims as many due deliveries as it has free slots
(``concurrency``), for a lease of ``2 * timeout + 5`` seconds (``WebhookStore.claim_webhooks``),
and sends each in its own task, at most ``timeout`` seconds per attempt. Then it waits until the
next delivery falls due, an attempt ends, or ``wake()`` (the intake stored a delivery), but never
longer than ``tick`` seconds, since other nodes queue deliveries too.

- A 2xx answer: the delivery is forgotten (``webhook_sent``).
- A failure: attempts + 1, the error kept, due again after ``WebhookPolicy.backoff`` (exponential,
  with jitter); once the next attempt would come after the delivery's ``give_up_at``
  (``WEBHOOK_MAX_AGE_SECONDS`` after it was queued), or the address was refused, it goes to its
  client's dead list instead (``bury_webhook``).
- Crash: a node that dies mid-attempt leaves its claims to lapse; another node (or this one,
  restarted) claims them again when the lease ends and sends them again under the same
  ``webhook-id``. So a receiver may see a delivery twice, never lose one.
- The store being away while an attempt is settled is logged; the claim lapses and the attempt
  is made again. Closing (cancelling ``run``) cancels the attempts in flight the same way.
- Counted in ``Stats.webhooks``: attempts ``delivered`` and ``failed``, deliveries gone ``dead``.
- Nothing here touches a job: a slow receiver holds one slot for at most ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import msgspec

from actors.ports.store import WebhookDelivery, WebhookStore
from actors.stats import Stats
from actors.webhooks import Sender
from engine import defaults
from engine.errors import Unavailable, WebhookFailed
from engine.webhooks import DEFAULT_POLICY, WebhookPolicy

log = logging.getLogger(__name__)


class WebhookDeliverer:
    def __init__(
        self,
        store: WebhookStore,
        send: Sender,
        clock: Callable[[], float],
        *,
        policy: WebhookPolicy = DEFAULT_POLICY,
        concurrency: int = defaults.WEBHOOK_CONCURRENCY,
        timeout: float = defaults.WEBHOOK_TIMEOUT_SECONDS,
        tick: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        stats: Stats | None = None,
    ) -> None:
        """``sleep`` paces the rounds and ``jitter`` (uniform in [0, 1)) spreads the back-off;
        a test passes a fake clock's sleep and a fixed jitter."""
        self._store, self._send, self._clock, self._policy = store, send, clock, policy
        self._concurrency, self._timeout, self._tick = concurrency, timeout, tick
        self._lease = 2 * timeout + 5.0
        self._sleep, self._jitter = sleep, jitter
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._counts = (Stats() if stats is None else stats).webhooks  # delivered, failed, dead

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next tick."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self) -> None:
        """Deliver until cancelled; the attempts in flight are cancelled with it."""
        async with asyncio.TaskGroup() as group:
            while True:
                await self._claim(group)
                wait = await self._wait()
                _raise_if_cancelled()
                await self._pause(wait)

    async def _claim(self, group: asyncio.TaskGroup) -> None:
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return
        now = self._clock()
        for delivery in await self._store.claim_webhooks(now, free, now + self._lease):
            task = group.create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wakeup.set()  # a slot is free and a retry may be due soon: look again now

    async def _wait(self) -> float:
        """How long to wait for the next round: until the next due delivery, at most ``tick``."""
        if len(self._in_flight) >= self._concurrency:
            return self._tick
        next_at = await self._store.next_webhook_due()
        if next_at is None:
            return self._tick
        return min(self._tick, max(next_at - self._clock(), 0.0))

    async def _pause(self, seconds: float) -> None:
        if not self._wakeup.is_set():
            sleeping = asyncio.ensure_future(self._sleep(seconds))
            woken = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({sleeping, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (sleeping, woken):
                    waiter.cancel()
                await asyncio.gather(sleeping, woken, return_exceptions=True)
        self._wakeup.clear()

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        """Send once and settle; never raises (but for cancellation)."""
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                await self._send(delivery, int(started))
        except WebhookFailed as exc:
            await self._failed(delivery, started, exc.reason, retryable=exc.retryable)
        except TimeoutError:
            await self._failed(delivery, started, f"no answer within {self._timeout:g} s", retryable=True)
        except Exception as exc:  # a bug in a sender must not stop the other deliveries
            log.exception("webhook %s to %s: the attempt raised", delivery.id, delivery.url)
            await self._failed(delivery, started, f"{type(exc).__name__}: {exc}", retryable=True)
        else:
            self._counts["delivered"] += 1
            await self._settle(delivery, self._store.webhook_sent(delivery.id))
            log.debug("webhook %s (%s of job %s) delivered", delivery.id, delivery.event, delivery.job_id)

    async def _failed(self, delivery: WebhookDelivery, started: float, error: str, *, retryable: bool) -> None:
        now, attempts = self._clock(), delivery.attempts + 1
        tried = msgspec.structs.replace(delivery, attempts=attempts, last_attempt_at=started, last_error=error)
        at = self._policy.due_after(attempts, now, delivery.give_up_at, self._jitter()) if retryable else None
        self._counts["failed"] += 1
        if at is None:
            self._counts["dead"] += 1
            log.warning("webhook %s to %s given up after %d attempts: %s", delivery.id, delivery.url, attempts, error)
            await self._settle(delivery, self._store.bury_webhook(msgspec.structs.replace(tried, dead_at=now)))
        else:
            log.info("webhook %s: attempt %d failed (%s); next at %.3f", delivery.id, attempts, error, at)
            await self._settle(delivery, self._store.retry_webhook(msgspec.structs.replace(tried, next_at=at)))

    async def _settle(self, delivery: WebhookDelivery, write: Awaitable[object]) -> None:
        try:
            await write
        except Unavailable as exc:
            log.warning(
                "webhook %s: the store is away (%s); the attempt is made again when its claim lapses", delivery.id, exc
            )


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation that a store call swallowed. redis-py (8.x, asyncio) can return a
    command's reply to a task cancelled while it waited for it; this loop would then run on and
    its node could never close."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
