"""A node: the set of actors one process runs, wired to a broker and a store.

``async with Node(...)`` starts the job, router and webhook consumers and the timeouts actor in
one TaskGroup; leaving the block (or ``close()``, idempotent) stops consuming, lets in-flight
messages finish and ack, and returns unacked ones to the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType

from actors.job import JobActor
from actors.router import RouterActor
from actors.runtime import KeyedRunner
from actors.timeouts import TimeoutsActor
from actors.webhooks import Notifier, WebhookActor
from engine import routes
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from transport.broker import Broker, Consumer
from transport.store import Store


class Node:
    def __init__(
        self,
        *,
        registry: BlueprintRegistry,
        store: Store,
        broker: Broker,
        policy: StepPolicy,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
        max_concurrent_jobs: int = 100,
    ) -> None:
        self.timeouts = TimeoutsActor(store, broker, clock)
        job = JobActor(registry, store, broker, policy, clock)
        router = RouterActor(store)
        webhooks = WebhookActor(notifier)
        self._broker = broker
        self._plan: list[tuple[str, KeyedRunner, int]] = [
            (routes.JOBS, KeyedRunner("jobs", job.handle), max_concurrent_jobs),
            (routes.ROUTER, KeyedRunner("router", router.handle), 256),
            (routes.EVENTS, KeyedRunner("webhooks", webhooks.handle), 64),
        ]
        self._consumers: list[Consumer] = []
        self._group: asyncio.TaskGroup | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Node:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        for route, runner, prefetch in self._plan:
            consumer = self._broker.consume(route, prefetch=prefetch)
            self._consumers.append(consumer)
            self._group.create_task(runner.run(consumer))
        self._ticker = self._group.create_task(self.timeouts.run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        for consumer in self._consumers:
            await consumer.close()
        if self._ticker is not None:
            self._ticker.cancel()
        await group.__aexit__(None, None, None)
