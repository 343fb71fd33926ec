"""The job actor: one virtual actor per job, keyed by job id, one message at a time.

For each message: load the state; if the message was applied already (a redelivery), publish
the effects it produced again if they may not have gone out, and stop; else run the step
function, commit the state with a compare-and-set together with its outbox, then publish the
outbox. The runtime acks only after this returns. A node dying anywhere in between leads to a
redelivery that either re-runs the step (nothing was committed) or re-publishes the outbox.

The job's deadlines are not in the outbox: the commit itself adds those the step deferred and
removes those it made obsolete (ADR 0008), so a redelivery never schedules one twice, and a
finished job leaves none behind. A message the step ignores (a stale deadline, a late result)
costs no commit at all.

The state a message committed is kept in memory for the job's next message, so a live job costs
one store round trip per message (the commit), not two. The copy is only a guess: the commit is
a compare-and-set, so if anyone else wrote the job since (its shard moved to another node and
back), the commit fails, the copy is dropped and the message is applied again on fresh state.
A copy is dropped, too, whenever handling fails, and when its job ends. A message the step
ignores commits nothing, so no compare-and-set would catch a stale copy there: a message the copy
ignores is judged again on the stored state (it may be about the job's newer task).

A step that cancelled the job while a worker may be running its task (``JobStep.stopped``) is
announced after the commit (``actors.cancellations``: best effort, the heartbeat is the sure way).

A ``Start`` with ``create`` (a scheduled fire, ADR 0014) stores the job it carries first, unless a
job has its id: however often a fire's ``Start`` comes, it makes one job.

Each application of a message binds the job's ids for the log lines (``actors.log_context``) and,
with tracing on (``actors.ports.tracing``), runs in a span, child of the envelope's traceparent or
else of the job's own; the envelopes it sends carry the span's. A job without a trace yet (a
scheduled fire, a child job) takes its first span's. Tracing off costs one flag read.

Each commit is counted in ``actors.stats.Stats`` once stored: the transitions it made, and the
job's end (by blueprint and status, with its submit→end time).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Protocol

import msgspec

from actors import log_context
from actors.cancellations import AnnouncerStore, announce
from actors.ports.broker import Publisher
from actors.ports.store import DeadlineStore, JobStore, Scheduled
from actors.ports.tracing import NO_TRACER, Tracer, trace_id_of
from actors.publisher import apply_once
from actors.stats import Stats
from engine.errors import VersionConflict
from engine.job import JobState, Outgoing, decode_state
from engine.messages import Envelope, Start, StartChild
from engine.objects import JobObjects
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.step import JobStep, apply, fail_unrunnable

log = logging.getLogger(__name__)


class JobActorStore(JobStore, DeadlineStore, AnnouncerStore, Protocol):
    """What the job actor needs of the store: jobs, the deadlines its outboxes schedule, and what
    announcing a cancellation reads and sends."""


class JobActor:
    def __init__(
        self,
        registry: BlueprintRegistry,
        store: JobActorStore,
        broker: Publisher,
        policy: StepPolicy,
        clock: Callable[[], float],
        *,
        cached_jobs: int = 10_000,
        objects: JobObjects | None = None,
        tracer: Tracer = NO_TRACER,
        stats: Stats | None = None,
    ) -> None:
        self._registry, self._store, self._broker, self._objects = registry, store, broker, objects
        self._tracer = tracer
        self._stats = Stats() if stats is None else stats
        self._policy, self._clock = policy, clock
        self._cached: OrderedDict[str, JobState] = OrderedDict()  # job id -> state as last committed here
        self._cache_size = cached_jobs

    async def handle(self, env: Envelope) -> None:
        # Taken out while the message is handled: a failure leaves no half-applied copy behind.
        state = self._cached.pop(env.key, None)
        if state is None and isinstance(env.body, Start) and env.body.created is not None:
            state = await self._apply_created(env, env.body.created, create=env.body.create)
        elif state is not None and not await self._apply(state, env):
            state = None
        if state is None:
            state = await self._store.load_job(env.key)
            if state is None and isinstance(env.body, StartChild):
                state = await self._create_child(env.key, env.body)
            if state is None:
                log.warning("message %s for unknown job %s dropped", env.id, env.key)
                return
            await self._apply(state, env)
        if not state.terminal and self._cache_size > 0:
            self._cached[env.key] = state
            if len(self._cached) > self._cache_size:
                self._cached.popitem(last=False)

    async def _apply_created(self, env: Envelope, created: bytes, *, create: bool) -> JobState | None:
        """Apply a ``Start`` on the state the gateway created, which it carries, without loading
        the job: the state it left, or None if the job has changed since (the commit's
        compare-and-set failed, or the step ignored it): then it is applied on the stored job.
        With ``create`` (a scheduled fire) the state is stored first, unless its id exists: a
        redelivered or repeated fire finds its job and changes nothing."""
        state = decode_state(created)
        if create and await self._store.create_job(state):
            self._stats.jobs_created[state.blueprint] += 1
        try:
            return state if await self._apply(state, env) else None
        except VersionConflict:
            return None

    async def _create_child(self, job_id: str, start: StartChild) -> JobState | None:
        """Store the child job ``start`` asks for (version 1, pending), unless a redelivery of
        ``start`` stored it already; either way, return it as stored."""
        bp = self._registry.get(start.blueprint)
        now = self._clock()
        child = JobState(
            id=job_id,
            blueprint=start.blueprint,
            client_id=start.client_id,
            client_plan=start.client_plan,
            client_params=start.client_params,
            # A blueprint this node lacks: the step fails the child, and the parent hears of it.
            current_state=bp.start_state if bp is not None else "",
            initial_data=start.initial_data,
            created_at=now,
            updated_at=now,
            parent_id=start.parent_id,
            depth=start.depth,
            max_transitions=start.max_transitions,
            dispatch_timeout=start.dispatch_timeout,
            result_timeout=start.result_timeout,
            security=start.security,
            metadata=start.metadata,
            allowed_skills=start.allowed_skills,
        )
        if await self._store.create_job(child):
            self._stats.jobs_created[child.blueprint] += 1
        return await self._store.load_job(job_id)

    async def _apply(self, state: JobState, env: Envelope) -> bool:
        """Apply ``env`` once (``apply_once``); False if the step ignored it: nothing was written."""
        before = state.current_state
        traceparent = env.traceparent or state.traceparent
        log_context.bind(job_id=state.id, blueprint=state.blueprint, state=before, trace_id=trace_id_of(traceparent))
        if self._tracer.enabled:
            changed = await self._traced(state, env, traceparent)
        else:
            changed = await self._apply_step(state, env, None)
        if changed and log.isEnabledFor(logging.DEBUG):
            log_context.bind(state=state.current_state)
            moved = {"received": type(env.body).__name__, "from_state": before, "status": state.status}
            log.debug("job stepped", extra=moved)
        return changed

    async def _traced(self, state: JobState, env: Envelope, parent: str | None) -> bool:
        """``_apply_step`` in a span; a job without a trace yet takes this span's."""
        attributes = {"job.id": state.id, "job.blueprint": state.blueprint, "job.state": state.current_state}
        with self._tracer.span(f"job {type(env.body).__name__}", parent, attributes) as traceparent:
            if state.traceparent is None and traceparent is not None:
                state.traceparent = traceparent  # committed with the step, if it changes anything
                log_context.bind(trace_id=trace_id_of(traceparent))
            return await self._apply_step(state, env, traceparent)

    async def _apply_step(self, state: JobState, env: Envelope, traceparent: str | None) -> bool:
        steps: list[JobStep] = []  # what the step did, for the commit to write its deadlines
        step = partial(self._step, state, env, steps, traceparent)
        commit = partial(self._commit, steps, (state.status, state.transitions))
        await apply_once(state, env, step, commit, self._broker, self._store)
        if steps and steps[-1].stopped:
            await announce(self._store, steps[-1].stopped)
        return not steps or steps[-1].changed

    async def _step(
        self, state: JobState, env: Envelope, steps: list[JobStep], traceparent: str | None
    ) -> list[Outgoing] | None:
        """The immediate effects of ``env`` (the outbox), or None if it changed nothing; with a
        ``traceparent``, their envelopes carry it."""
        bp = self._registry.get(state.blueprint)
        if bp is not None:
            step = await apply(bp, self._policy, state, env, self._clock(), self._objects)
        else:
            unloaded = f"blueprint {state.blueprint!r} is not loaded on this node"
            step = fail_unrunnable(state, env, unloaded, self._clock())
        steps.append(step)
        if not step.changed:
            return None
        return step.out if traceparent is None else [_traced_out(out, traceparent) for out in step.out]

    async def _commit(
        self, steps: list[JobStep], before: tuple[str, int], state: JobState, expected_version: int
    ) -> None:
        [step] = steps
        schedule = [Scheduled(d.route, d.envelope, d.at) for d in step.deadlines if d.at is not None]
        await self._store.commit_job(
            state, expected_version, schedule=schedule, unschedule=step.obsolete, history=step.history
        )
        self._count(state, *before)

    def _count(self, state: JobState, status: str, transitions: int) -> None:
        """What the commit did, in ``Stats``: counted once it is stored (a lost compare-and-set
        counts nothing; the message is applied again). Plain increments: the hot path."""
        if state.transitions != transitions:
            self._stats.transitions[state.blueprint] += state.transitions - transitions
        if state.status != status and state.terminal:
            self._stats.jobs_ended[(state.blueprint, state.status)] += 1
            ended = state.updated_at if state.finished_at is None else state.finished_at
            self._stats.job_duration.observe(state.blueprint, ended - state.created_at)


def _traced_out(out: Outgoing, traceparent: str) -> Outgoing:
    return msgspec.structs.replace(out, envelope=msgspec.structs.replace(out.envelope, traceparent=traceparent))
