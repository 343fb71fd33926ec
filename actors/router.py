"""The router: puts each offered task in its skill's queue, reserved for the best worker.

On a ``TaskOffer`` it reads the live workers having the task's skill (the store's capability
set), ranks them with ``engine.routing`` (hot first, then least loaded, then by id) and pushes the
task reserved for the first for ``reservation_seconds`` (the store finishes the ranking with the
loads it counts, in the same step as the push: ``push_task_reserved``): only that worker may take it until
then, anyone capable afterwards. With no eligible worker the task is pushed unreserved and waits
until one polls for it, or until the job's dispatch deadline fails it. The worker still pulls its
task; the reservation only decides who gets first pick, so a reserved worker that died strands
nothing.

Load is a worker's ``current_tasks`` at its last heartbeat plus the reservations made for it
since (the optimistic increment), counted in the store so every node's router sees them; a new
heartbeat (a new ``last_seen``) restarts the count. The push reads the counts, chooses and counts
the reservation in one atomic store step, and pushing is idempotent by task id, so a redelivered offer is queued and
counted once.

The capability set of a skill is read at most every ``workers_cache_seconds`` (half a second by
default) and kept in between: a worker that registers or leaves is seen that much later, which
costs at most one reservation made for a worker that will not take it (it lapses after
``reservation_seconds``), while a busy router saves three store round trips per task.

A task's place in its skill's queue (its priority, aged by its wait: ``Store.take_task``) counts
from when this router pushed it, on the router's own clock.

With tracing on (``actors.ports.tracing``), routing an offer is a span, child of the offer's
envelope's traceparent (the job activation that sent it); an offer without one (a fan-out
branch's retry, sent by its aggregator) is routed untraced rather than as a trace of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from actors.ports.store import Contender, TaskQueue, WorkerRecord, WorkerRegistry
from actors.ports.tracing import NO_TRACER, Tracer
from actors.stats import Stats
from engine.messages import Envelope, TaskOffer
from engine.routing import Candidate, tiered

HOT, COLD, UNRESERVED = "hot", "cold", "unreserved"  # routing decisions, in ``Stats.routed``


class RouterStore(TaskQueue, WorkerRegistry, Protocol):
    """What the router needs of the store: the capable workers, and the queue that reserves."""


class RouterActor:
    def __init__(
        self,
        store: RouterStore,
        *,
        clock: Callable[[], float] = time.time,
        reservation_seconds: float,
        workers_cache_seconds: float = 0.5,
        tracer: Tracer = NO_TRACER,
        stats: Stats | None = None,
    ) -> None:
        self._store, self._tracer = store, tracer
        self._stats = Stats() if stats is None else stats
        self._routed = self._stats.routed
        self._clock = clock
        self._reservation_seconds = reservation_seconds
        self._workers_cache_seconds = workers_cache_seconds
        self._capable: dict[str, tuple[float, list[WorkerRecord]]] = {}  # skill -> (read until, workers)

    async def handle(self, env: Envelope) -> None:
        if isinstance(env.body, TaskOffer):
            if self._tracer.enabled and env.traceparent is not None:
                attributes = {"job.id": env.body.job_id, "task.id": env.body.task_id, "task.type": env.body.type}
                with self._tracer.span("route task", env.traceparent, attributes):
                    await self._route(env.body)
            else:
                await self._route(env.body)

    async def _route(self, offer: TaskOffer) -> None:
        """One store round trip (the capability set cached): the store picks among the eligible
        workers by tier, then their load as it counts it, in the same step as the push."""
        now = self._clock()
        workers = {w.worker_id: w for w in await self._capable_workers(offer.type, now)}
        tiered_ = tiered((_candidate(w) for w in workers.values()), offer.type, offer.params)
        contenders = [Contender(c.worker_id, workers[c.worker_id].last_seen, c.load, t) for c, t in tiered_]
        if not contenders:
            await self._store.push_task(offer, now=now)
            self._routed[UNRESERVED] += 1
            return
        until = now + self._reservation_seconds
        await self._store.push_task_reserved(offer, contenders, reserved_until=until, now=now)
        # The store picks in the first tier (hot, if any worker is): the decision's kind.
        self._routed[HOT if contenders[0].tier == 0 else COLD] += 1

    async def _capable_workers(self, skill: str, now: float) -> list[WorkerRecord]:
        cached = self._capable.get(skill)
        if cached is not None and now < cached[0]:
            return [w for w in cached[1] if w.expires_at > now]
        workers = await self._store.capable_workers(skill, now)
        self._capable[skill] = (now + self._workers_cache_seconds, workers)
        self._stats.skills.add(skill)  # off the hot path: once per skill and cache period
        return workers


def _candidate(worker: WorkerRecord) -> Candidate:
    """The worker as its last heartbeat reported it; the store adds its reservations since."""
    return Candidate(worker.worker_id, worker.status, frozenset(worker.hot_skills), len(worker.current_tasks))
