"""A job's deadlines through the job actor and the timeouts actor (ADR 0008), on the in-memory
store and on Redis: the commit that makes a deadline obsolete removes it, a finished job leaves
nothing scheduled, a redelivery schedules nothing twice, and a stale deadline costs no commit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from rxon.constants import ERROR_CODE_TRANSIENT

from actors.job import JobActor
from actors.ports.store import Store
from actors.timeouts import TimeoutsActor
from engine import job as j
from engine import routes
from engine.deadlines import deadline_id
from engine.errors import BrokerUnavailable
from engine.job import JobState
from engine.messages import Cancel, Envelope, Start, TaskDone, TaskOffer, TaskStarted, Timeout, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.actors.faults import PublishFailsOnce
from tests.blueprints import one_task
from tests.conformance.redis_case import redis_store
from tests.support.clock import FakeClock
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"
POLICY = StepPolicy(dispatch_timeout=60.0, result_timeout=300.0)
FOREVER = float("inf")


@contextlib.asynccontextmanager
async def _memory() -> AsyncIterator[Store]:
    yield MemoryStore()


STORES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Any]]] = {"memory": _memory, "redis": redis_store}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Store]:
    async with STORES[request.param]() as implementation:
        registry = BlueprintRegistry()
        registry.register(one_task("echo"))
        now = clock()
        state = JobState(
            id=JOB,
            blueprint="echo",
            client_id="c",
            current_state="start",
            initial_data={},
            created_at=now,
            updated_at=now,
        )
        assert await implementation.create_job(state)
        yield implementation


def actor(store: Store, broker: MemoryBroker, clock: FakeClock) -> JobActor:
    registry = BlueprintRegistry()
    registry.register(one_task("echo"))
    return JobActor(registry, store, broker, POLICY, clock)


async def scheduled(store: Store) -> list[str]:
    """The ids in the deadline set (every one of them is this job's: each test has its own store)."""
    return [item.envelope.id for item in await store.due(FOREVER, 100)]


async def load(store: Store) -> JobState:
    state = await store.load_job(JOB)
    assert state is not None
    return state


def offer_of(broker: MemoryBroker) -> TaskOffer:
    [env] = broker.pending(routes.ROUTER)
    assert isinstance(env.body, TaskOffer)
    return env.body


def msg(body: Any, clock: FakeClock, id: str) -> Envelope:
    return envelope(JOB, body, clock(), id=id)


async def test_a_job_whose_task_is_picked_up_and_finished_leaves_nothing_scheduled(
    store: Store, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    job = actor(store, broker, clock)

    await job.handle(msg(Start(), clock, "m-start"))
    task = offer_of(broker).task_id
    assert await scheduled(store) == [deadline_id(JOB, "dispatch", task)]
    clock.advance(1)
    await job.handle(msg(TaskStarted(task, "w1", at=clock()), clock, "m-started"))
    assert await scheduled(store) == [deadline_id(JOB, "result", task)]
    await job.handle(msg(TaskDone(task, "w1"), clock, "m-done"))

    assert (await load(store)).status == j.FINISHED
    assert await scheduled(store) == []
    assert await store.next_due() is None
    assert broker.pending(routes.JOBS) == []  # no deadline went out, and none will


async def test_a_cancelled_job_leaves_nothing_scheduled(store: Store, clock: FakeClock) -> None:
    broker = MemoryBroker()
    job = actor(store, broker, clock)
    await job.handle(msg(Start(), clock, "m-start"))

    await job.handle(msg(Cancel(), clock, "m-cancel"))

    assert (await load(store)).status == j.CANCELLED
    assert await scheduled(store) == []


async def test_the_deadline_is_committed_even_when_the_publish_after_the_commit_fails(
    store: Store, clock: FakeClock
) -> None:
    broker = PublishFailsOnce(routes.ROUTER)
    job = actor(store, broker, clock)
    start = msg(Start(), clock, "m-start")

    with pytest.raises(BrokerUnavailable):
        await job.handle(start)

    task = (await load(store)).task
    assert task is not None
    assert await scheduled(store) == [deadline_id(JOB, "dispatch", task.id)]  # with the state
    await job.handle(start)  # the redelivery publishes the offer, and schedules nothing more
    assert offer_of(broker).task_id == task.id
    assert await scheduled(store) == [deadline_id(JOB, "dispatch", task.id)]


async def test_a_redelivery_does_not_bring_back_a_deadline_that_fired(store: Store, clock: FakeClock) -> None:
    """The leader fired the dispatch deadline (published and removed it); a late redelivery of the
    Start that deferred it publishes its outbox again, which holds no deadline."""
    broker = MemoryBroker()
    job = actor(store, broker, clock)
    start = msg(Start(), clock, "m-start")
    await job.handle(start)
    clock.advance(61)
    assert await TimeoutsActor(store, broker, clock).fire_due() == 1

    await job.handle(start)

    assert await scheduled(store) == []
    assert len(broker.pending(routes.ROUTER)) == 2  # the offer again, same envelope id


async def test_a_stale_deadline_costs_no_commit(store: Store, clock: FakeClock) -> None:
    """The leader read the dispatch deadline just before the pickup's commit removed it: it still
    reaches the job, which ignores it without writing anything."""
    broker = MemoryBroker()
    job = actor(store, broker, clock)
    await job.handle(msg(Start(), clock, "m-start"))
    task = offer_of(broker).task_id
    clock.advance(61)
    [due] = await store.due(clock(), 10)
    await job.handle(msg(TaskStarted(task, "w1", at=clock()), clock, "m-started"))
    before = await load(store)

    await job.handle(due.envelope)
    await job.handle(msg(TaskDone(task, "w1"), clock, "m-done"))
    finished = await load(store)
    await job.handle(due.envelope)
    await job.handle(msg(Timeout("result", task), clock, deadline_id(JOB, "result", task)))

    assert finished.version == before.version + 1  # the done, and nothing for the stale deadline
    assert await load(store) == finished
    assert due.envelope.id not in finished.applied


async def test_a_message_a_stale_copy_ignores_is_judged_again_on_the_stored_state(
    store: Store, clock: FakeClock
) -> None:
    """A keeps the state it committed; B (the job's shard moved to another node and back) retries
    the task under a new id. A's copy would ignore the new task's back-off as stale, and an ignored
    message commits nothing that would catch the stale copy: A must judge it on the stored state."""
    broker = MemoryBroker()
    a, b = actor(store, broker, clock), actor(store, broker, clock)
    await a.handle(msg(Start(), clock, "m-start"))
    first = offer_of(broker).task_id
    await b.handle(msg(TaskDone(first, "w1", status="failure", error_code=ERROR_CODE_TRANSIENT), clock, "m-failed"))
    retried = (await load(store)).task
    assert retried is not None
    assert retried.waiting_retry
    assert retried.id != first

    clock.advance(60)
    await a.handle(msg(Timeout("retry_task", retried.id), clock, deadline_id(JOB, "retry_task", retried.id)))

    state = await load(store)
    assert state.task is not None
    assert (state.task.id, state.task.waiting_retry) == (retried.id, False)  # offered again
    assert [e.body.task_id for e in broker.pending(routes.ROUTER)] == [first, retried.id]  # type: ignore[union-attr]
