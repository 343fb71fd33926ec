"""A node: the set of actors one process runs, wired to a broker and a store.

``async with Node(...)`` starts the job, aggregator, router, webhook-intake and (given ``files``
with a purge delay) files consumers, the timeouts actor (only the leader's fires; see
``actors.timeouts``), given schedules the scheduler (only the leader's fires; see
``actors.scheduler``), the webhook deliverer (``actors.webhook_delivery``) and, given one, the
archiver (``actors.archiver``) in one TaskGroup,
each supervised: a crash (say, the broker connection dropped) is logged and the loop restarts
after a back-off instead of taking the node down. Leaving the block (or ``close()``, idempotent) stops
consuming, gives in-flight messages ``grace`` seconds to finish and ack, then returns whatever is
still unacked to the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Protocol

from actors.aggregator import AggregatorActor, AggregatorStore
from actors.archiver import Archiver
from actors.files import FilesActor, FilesStore, NodeFiles
from actors.job import JobActor, JobActorStore
from actors.ports.broker import Broker, Consumer
from actors.ports.locks import Locks
from actors.ports.store import ScheduleStore, WebhookStore
from actors.ports.tracing import NO_TRACER, Tracer
from actors.publisher import LocalRoutes
from actors.router import RouterActor, RouterStore
from actors.runtime import KeyedRunner
from actors.scheduler import SchedulerActor
from actors.shards import ShardBalancer
from actors.stats import Stats
from actors.timeouts import TimeoutsActor, TimeoutsStore
from actors.webhook_delivery import WebhookDeliverer
from actors.webhooks import Sender, WebhookIntake
from engine import defaults, routes
from engine.errors import Unavailable
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule
from engine.webhooks import DEFAULT_POLICY, WebhookPolicy

log = logging.getLogger(__name__)


class NodeStore(
    JobActorStore, AggregatorStore, RouterStore, TimeoutsStore, ScheduleStore, WebhookStore, FilesStore, Protocol
):
    """What the actors of a node need of the store, together (closing it is the caller's)."""


class Node:
    def __init__(
        self,
        *,
        registry: BlueprintRegistry,
        store: NodeStore,
        broker: Broker,
        policy: StepPolicy,
        sender: Sender,
        clock: Callable[[], float] = time.time,
        max_concurrent_jobs: int = defaults.EXECUTOR_MAX_CONCURRENT_JOBS,
        grace: float = 10.0,
        locks: Locks | None = None,
        instance_id: str = "node",
        balancer: ShardBalancer | None = None,
        reservation_seconds: float = defaults.ROUTER_RESERVATION_SECONDS,
        schedules: Sequence[Schedule] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        webhook_policy: WebhookPolicy = DEFAULT_POLICY,
        webhook_concurrency: int = defaults.WEBHOOK_CONCURRENCY,
        webhook_timeout: float = defaults.WEBHOOK_TIMEOUT_SECONDS,
        files: NodeFiles | None = None,
        archiver: Archiver | None = None,
        tracer: Tracer = NO_TRACER,
        stats: Stats | None = None,
    ) -> None:
        # ``sleep`` paces the timeouts actor's, the scheduler's and the webhook deliverer's rounds and
        # the restart back-off; a test on a fake clock passes the clock's
        self.stats = Stats() if stats is None else stats  # what the actors count (actors.stats)
        self.timeouts = TimeoutsActor(store, broker, clock, locks=locks, holder=instance_id, sleep=sleep)
        self.scheduler = (
            SchedulerActor(
                schedules,
                registry,
                store,
                broker,
                clock,
                locks=locks,
                holder=instance_id,
                sleep=sleep,
                stats=self.stats,
            )
            if schedules
            else None
        )
        self.webhooks = WebhookDeliverer(
            store,
            sender,
            clock,
            policy=webhook_policy,
            concurrency=webhook_concurrency,
            timeout=webhook_timeout,
            sleep=sleep,
            stats=self.stats,
        )
        intake = WebhookIntake(store, clock, policy=webhook_policy, queued=self.webhooks.wake)
        self.archiver = archiver
        self._sleep = sleep
        router = RouterActor(
            store, clock=clock, reservation_seconds=reservation_seconds, tracer=tracer, stats=self.stats
        )
        # Offers from this node's jobs and groups go straight to its router (ADR 0009); the
        # router's queue still serves whatever else is published to it.
        offers = LocalRoutes(broker, {routes.ROUTER: router.handle})
        job_objects = files.job_objects if files else None
        job = JobActor(registry, store, offers, policy, clock, objects=job_objects, tracer=tracer, stats=self.stats)
        aggregator = AggregatorActor(store, offers, policy, clock)
        self._broker, self._grace = broker, grace
        self._plan = [
            (routes.JOBS, KeyedRunner("jobs", job.handle), max_concurrent_jobs),
            (routes.AGGREGATOR, KeyedRunner("aggregator", aggregator.handle), max_concurrent_jobs),
            (routes.ROUTER, KeyedRunner("router", router.handle), 256),
            (routes.EVENTS, KeyedRunner("webhooks", intake.handle), 64),
        ]
        if files is not None and files.purge_after is not None:
            janitor = FilesActor(store, files.objects, clock, after=files.purge_after)
            self._plan.append((routes.FILES, KeyedRunner("files", janitor.handle), 16))
        self._consumers: set[Consumer] = set()
        self._balancer = balancer
        self._balancing: asyncio.Task[None] | None = None
        # The shards this node consumes: all of them without a balancer; with one, none until it
        # has claimed some. Changing it restarts the consumers (see ``reassign``).
        self._assigned: frozenset[int] | None = None if balancer is None else frozenset()
        self._generation = 0
        self._assignment_changed = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._consuming: list[asyncio.Task[None]] = []
        self._tickers: list[asyncio.Task[None]] = []  # the timeouts actor, the scheduler, the deliverer
        self._closing = False

    async def __aenter__(self) -> Node:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        for route, runner, prefetch in self._plan:
            consume = self._consume_with(route, runner, prefetch)
            self._consuming.append(self._group.create_task(self._supervise(runner.name, consume)))
        self._tickers = [
            self._group.create_task(self._supervise("timeouts", self.timeouts.run)),
            self._group.create_task(self._supervise("webhook delivery", self.webhooks.run)),
        ]
        if self.scheduler is not None:
            self._tickers.append(self._group.create_task(self._supervise("scheduler", self.scheduler.run)))
        if self.archiver is not None:
            self._tickers.append(self._group.create_task(self._supervise("archiver", self.archiver.run)))
        if self._balancer is not None:
            self._balancing = self._group.create_task(self._supervise("shards", self._balance))
        return self

    @property
    def assigned(self) -> frozenset[int] | None:
        """The shards this node consumes; None means all of them."""
        return self._assigned

    async def _balance(self) -> None:
        assert self._balancer is not None
        await self._balancer.run(self.reassign)

    async def reassign(self, shards: frozenset[int]) -> None:
        """Consume exactly ``shards`` from now on. Returns once the consumers of the old set have
        stopped and settled every delivery they had, so their shards can be handed over."""
        if shards == self._assigned:
            return
        log.info("consuming shards %s (was %s)", sorted(shards), sorted(self._assigned or ()))
        self._assigned, self._generation = shards, self._generation + 1
        old = list(self._consumers)
        for consumer in old:
            await consumer.cancel()
        while any(consumer in self._consumers for consumer in old):
            self._assignment_changed.clear()
            await self._assignment_changed.wait()
        self._assignment_changed.set()  # wakes loops idling on an empty assignment

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _consume_with(self, route: str, runner: KeyedRunner, prefetch: int) -> Callable[[], Awaitable[None]]:
        async def consume() -> None:
            while self._assigned is not None and not self._assigned and not self._closing:
                self._assignment_changed.clear()
                await self._assignment_changed.wait()
            shards = None if self._assigned is None else sorted(self._assigned)
            consumer = self._broker.consume(route, prefetch=prefetch, shards=shards)
            self._consumers.add(consumer)
            try:
                await runner.run(consumer)
            finally:
                self._consumers.discard(consumer)
                await consumer.close()
                self._assignment_changed.set()

        return consume

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` until the node closes, restarting it with back-off if it crashes or stops."""
        delay = 0.1
        while not self._closing:
            generation = self._generation
            try:
                await run()
                if self._closing:
                    return
                if generation != self._generation:
                    continue  # reassigned: start again on the new shards at once
                log.warning("%s stopped on its own; restarting in %.1f s", name, delay)
            except Unavailable as exc:
                log.warning("%s stopped: %s; restarting in %.1f s", name, exc, delay)
            except Exception:
                log.exception("%s crashed; restarting in %.1f s", name, delay)
            await self._sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        self._closing = True
        self._assignment_changed.set()
        for ticker in self._tickers:
            ticker.cancel()
        for consumer in list(self._consumers):
            await consumer.cancel()
        _, stuck = await asyncio.wait(self._consuming, timeout=self._grace)
        for consumer in list(self._consumers):
            await consumer.close()
        for task in stuck:
            task.cancel()
        if self._balancer is not None and self._balancing is not None:
            self._balancing.cancel()
            try:
                await self._balancer.leave(self._release_all)
            except Unavailable as exc:
                log.warning("could not leave the shard membership (%s); its leases lapse instead", exc)
            except Exception:  # a bug must not keep the node's tasks from being torn down below
                log.exception("leaving the shard membership failed; its leases lapse instead")
        await group.__aexit__(None, None, None)

    async def _release_all(self, shards: frozenset[int]) -> None:
        """``leave``'s apply: the consumers are already stopped when the node closes."""
