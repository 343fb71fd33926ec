"""The job actor: load, apply, commit (compare-and-set), publish; idempotent under redelivery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.job import JobActor
from actors.ports.notices import Subscription
from actors.runtime import KeyedRunner
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.errors import BrokerUnavailable, VersionConflict
from engine.job import JobState, encode_state
from engine.messages import Cancel, CancelNotice, Envelope, Start, TaskDone, TaskOffer, TaskStarted, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.actors.faults import PublishFailsOnce
from tests.blueprints import one_task
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"

# Fixtures of tests/actors/conftest.py: ``clock`` (a FakeClock) and ``eventually(condition, what)``.


def registry_of(bp: StateMachineBlueprint) -> BlueprintRegistry:
    registry = BlueprintRegistry()
    registry.register(bp)
    return registry


async def create_job(store: MemoryStore, bp: StateMachineBlueprint, clock: FakeClock) -> None:
    state = JobState(
        id=JOB,
        blueprint=bp.name,
        client_id="c",
        current_state=bp.start_state,
        initial_data={},
        created_at=clock(),
        updated_at=clock(),
    )
    assert await store.create_job(state)


async def load(store: MemoryStore) -> JobState:
    state = await store.load_job(JOB)
    assert state is not None
    return state


def offers_on_router(broker: MemoryBroker) -> list[Envelope]:
    return [e for e in broker.pending(routes.ROUTER) if isinstance(e.body, TaskOffer)]


def offer_bodies(broker: MemoryBroker) -> list[TaskOffer]:
    return [e.body for e in broker.pending(routes.ROUTER) if isinstance(e.body, TaskOffer)]


@pytest.fixture
def bp() -> StateMachineBlueprint:
    return one_task("echoer")


@pytest.fixture
async def store(bp: StateMachineBlueprint, clock: FakeClock) -> MemoryStore:
    store = MemoryStore()
    await create_job(store, bp, clock)
    return store


def actor_for(bp: StateMachineBlueprint, store: MemoryStore, broker: MemoryBroker, clock: FakeClock) -> JobActor:
    return JobActor(registry_of(bp), store, broker, StepPolicy(), clock)


# -- one message --------------------------------------------------------------------------------


async def test_a_message_is_applied_committed_and_its_effects_published(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    start = envelope(JOB, Start(), clock(), id="m-start")

    await actor_for(bp, store, broker, clock).handle(start)

    state = await load(store)
    assert state.version == 2
    assert state.status == j.WAITING_FOR_WORKER
    assert state.applied == ["m-start"]
    assert state.outbox_of == "m-start"
    [offer] = offers_on_router(broker)
    assert state.outbox[0].envelope == offer


async def test_a_message_for_an_unknown_job_is_dropped(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker()

    await actor_for(bp, store, broker, clock).handle(envelope("no-such-job", Start(), clock()))

    assert await store.load_job("no-such-job") is None
    assert broker.pending(routes.ROUTER) == []


async def test_a_job_whose_blueprint_is_not_loaded_fails(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    other = StateMachineBlueprint("other")

    @other.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @other.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    await actor_for(other, store, MemoryBroker(), clock).handle(envelope(JOB, Start(), clock()))

    state = await load(store)
    assert state.status == j.FAILED
    assert state.error is not None
    assert "'echoer'" in state.error


# -- cancellation announced to the gateways --------------------------------------------------------

END = CancelNotice("end-marker", "end-marker", "end-marker")


async def announced(store: MemoryStore, notices: Subscription[CancelNotice]) -> list[CancelNotice]:
    """What was announced to ``notices`` so far (an end marker announced last tells where to stop)."""
    await store.announce_cancels([END])
    found: list[CancelNotice] = []
    async for notice in notices:
        if notice == END:
            return found
        found.append(notice)
    raise AssertionError("the subscription ended")


async def test_a_cancel_is_announced_once_after_its_commit_naming_the_worker(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker(shards=4)
    actor = actor_for(bp, store, broker, clock)
    await actor.handle(envelope(JOB, Start(), clock(), id="m-start"))
    [offer] = offer_bodies(broker)
    await actor.handle(envelope(JOB, TaskStarted(offer.task_id, "w1", at=clock()), clock()))

    with store.cancel_notices() as notices:
        await actor.handle(envelope(JOB, Cancel(), clock(), id="m-cancel"))
        assert (await load(store)).status == j.CANCELLED
        await actor.handle(envelope(JOB, Cancel(), clock(), id="m-cancel"))  # a redelivery
        assert await announced(store, notices) == [CancelNotice(JOB, offer.task_id, "w1")]


async def test_a_cancel_before_the_pickup_reached_the_job_takes_the_worker_from_the_lease(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker(shards=4)
    actor = actor_for(bp, store, broker, clock)
    await actor.handle(envelope(JOB, Start(), clock(), id="m-start"))
    [offer] = offer_bodies(broker)
    await store.push_task(offer)
    assert await store.take_task("w2", [offer.type], 0, clock(), lease_seconds=60) == offer

    with store.cancel_notices() as notices:
        await actor.handle(envelope(JOB, Cancel(), clock(), id="m-cancel"))
        assert await announced(store, notices) == [CancelNotice(JOB, offer.task_id, "w2")]


async def test_a_cancel_of_a_task_nobody_took_announces_nothing(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    actor = actor_for(bp, store, MemoryBroker(shards=4), clock)
    await actor.handle(envelope(JOB, Start(), clock(), id="m-start"))

    with store.cancel_notices() as notices:
        await actor.handle(envelope(JOB, Cancel(), clock(), id="m-cancel"))
        assert await announced(store, notices) == []


# -- idempotency under redelivery ---------------------------------------------------------------


async def test_a_redelivered_last_message_changes_nothing_and_republishes_its_outbox(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    actor = actor_for(bp, store, broker, clock)
    start = envelope(JOB, Start(), clock(), id="m-start")
    await actor.handle(start)
    before = await load(store)

    clock.advance(5)
    await actor.handle(start)

    assert await load(store) == before
    [first, second] = offers_on_router(broker)
    assert first == second  # the same envelope (same id) again: receivers de-duplicate


async def test_a_redelivered_older_message_changes_nothing_and_publishes_nothing(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    actor = actor_for(bp, store, broker, clock)
    start = envelope(JOB, Start(), clock(), id="m-start")
    await actor.handle(start)
    task_id = (await load(store)).task.id  # type: ignore[union-attr]
    await actor.handle(envelope(JOB, TaskStarted(task_id, "w1", at=clock()), clock(), id="m-started"))
    before = await load(store)

    await actor.handle(start)

    assert await load(store) == before
    assert len(offers_on_router(broker)) == 1


async def test_a_crash_between_commit_and_publish_is_repaired_by_the_redelivery(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = PublishFailsOnce(routes.ROUTER)
    actor = actor_for(bp, store, broker, clock)
    start = envelope(JOB, Start(), clock(), id="m-start")

    with pytest.raises(BrokerUnavailable):
        await actor.handle(start)
    committed = await load(store)
    assert committed.status == j.WAITING_FOR_WORKER
    assert offers_on_router(broker) == []  # committed, never published

    await actor.handle(start)

    assert await load(store) == committed
    [offer] = offers_on_router(broker)
    assert offer == committed.outbox[0].envelope


async def test_the_runner_redelivers_after_a_failed_publish_and_the_offer_goes_out_once(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock, eventually: Eventually
) -> None:
    broker = PublishFailsOnce(routes.ROUTER)
    actor = actor_for(bp, store, broker, clock)
    handled: set[str] = set()

    async def handle(env: Envelope) -> None:
        await actor.handle(env)
        handled.add(env.id)  # the runner acks in the same turn of the loop

    runner = KeyedRunner("jobs", handle, sleep=clock.sleep)
    consumer = broker.consume(routes.JOBS, prefetch=10)
    await broker.publish(routes.JOBS, envelope(JOB, Start(), clock(), id="m-start"))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(runner.run(consumer))
        await eventually(lambda: _true(offers_on_router(broker)), "the offer to be published")
        # a later message of the same job is handled only after the first was acked
        await broker.publish(routes.JOBS, envelope(JOB, Cancel(), clock(), id="m-cancel"))
        # handled, not just committed: the cancel's activation announces it after the commit
        await eventually(lambda: _true("m-cancel" in handled), "the cancel to be handled")
        await consumer.close()

    assert broker.failed
    assert len(offers_on_router(broker)) == 1
    assert broker.pending(routes.JOBS) == []
    assert broker.dead_letters(routes.JOBS) == []
    assert (await load(store)).applied == ["m-start", "m-cancel"]


async def test_a_version_conflict_makes_the_runner_apply_the_message_again(
    store: MemoryStore, clock: FakeClock, eventually: Eventually
) -> None:
    """Another writer B commits the job while A's handler runs; A's commit loses the
    compare-and-set, and the runner reloads and re-applies A's message on top of B's write."""
    entered, gate = asyncio.Event(), asyncio.Event()
    calls: list[int] = []
    bp = StateMachineBlueprint("echoer")  # same name as the job's blueprint

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        calls.append(1)
        entered.set()
        await gate.wait()
        actions.transition_to("done")

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    broker = MemoryBroker()
    actor_a = actor_for(bp, store, broker, clock)
    runner = KeyedRunner("jobs", actor_a.handle, sleep=clock.sleep)
    consumer = broker.consume(routes.JOBS, prefetch=10)
    await broker.publish(routes.JOBS, envelope(JOB, Start(), clock(), id="m-start"))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(runner.run(consumer))
        await asyncio.wait_for(entered.wait(), 5)
        other = await load(store)  # B writes the job (a message that changes nothing commits nothing)
        other.state_history["b"] = True
        await store.commit_job(other, other.version)
        gate.set()
        await eventually(lambda: _status(store, j.FINISHED), "the job to finish")
        await consumer.close()

    state = await load(store)
    assert calls == [1, 1]  # the handler ran again on the reloaded state
    assert state.state_history == {"b": True}
    assert state.applied == ["m-start"]
    assert state.version == 3
    assert broker.pending(routes.JOBS) == []
    assert broker.dead_letters(routes.JOBS) == []


async def test_a_job_written_elsewhere_since_the_last_message_is_reloaded_not_overwritten(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    """A keeps the state it committed; B (the job's shard moved to another node and back) writes
    the job after that. A's next message must land on B's write, not on A's stale copy."""
    broker = MemoryBroker()
    actor_a, actor_b = actor_for(bp, store, broker, clock), actor_for(bp, store, broker, clock)
    await actor_a.handle(envelope(JOB, Start(), clock(), id="m-start"))
    task_id = (await load(store)).task.id  # type: ignore[union-attr]
    await actor_b.handle(envelope(JOB, TaskStarted(task_id, "w1", at=clock()), clock(), id="m-started"))

    with pytest.raises(VersionConflict):  # A's copy is stale: its commit loses, nothing is written
        await actor_a.handle(envelope(JOB, TaskDone(task_id, "w1"), clock(), id="m-done"))
    assert (await load(store)).applied == ["m-start", "m-started"]

    await actor_a.handle(envelope(JOB, TaskDone(task_id, "w1"), clock(), id="m-done"))  # the runner's retry

    state = await load(store)
    assert state.status == j.FINISHED
    assert state.applied == ["m-start", "m-started", "m-done"]
    assert state.version == 4


async def _true(value: object) -> bool:
    return bool(value)


async def _status(store: MemoryStore, status: str) -> bool:
    state = await store.load_job(JOB)
    return state is not None and state.status == status


# -- a Start carrying the state the gateway created ------------------------------------------------


async def created_start(store: MemoryStore, id: str, clock: FakeClock) -> Envelope:
    """A ``Start`` as the gateway sends it: with the job as it was just stored."""
    return envelope(JOB, Start(encode_state(await load(store))), clock(), id=id)


async def test_a_start_carrying_the_created_job_is_applied_on_it(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    broker = MemoryBroker()
    start = await created_start(store, "m-start", clock)

    await actor_for(bp, store, broker, clock).handle(start)

    state = await load(store)
    assert (state.version, state.status, state.applied) == (2, j.WAITING_FOR_WORKER, ["m-start"])
    assert len(offers_on_router(broker)) == 1


async def test_a_start_whose_carried_job_is_stale_is_applied_on_the_stored_job(
    bp: StateMachineBlueprint, store: MemoryStore, clock: FakeClock
) -> None:
    """Its redelivery after it was applied (the carried state is version 1, the job is at 2)
    changes nothing and republishes its outbox; a job cancelled since is not started."""
    broker = MemoryBroker()
    start = await created_start(store, "m-start", clock)
    await actor_for(bp, store, broker, clock).handle(start)
    before = await load(store)

    await actor_for(bp, store, broker, clock).handle(start)  # another node: no kept copy

    assert await load(store) == before
    [first, second] = offers_on_router(broker)
    assert first == second

    other = MemoryStore()
    await create_job(other, bp, clock)
    stale = await created_start(other, "m-start-2", clock)
    await actor_for(bp, other, broker, clock).handle(envelope(JOB, Cancel("by the client"), clock(), id="m-cancel"))
    await actor_for(bp, other, broker, clock).handle(stale)
    state = await load(other)
    assert (state.status, state.applied) == (j.CANCELLED, ["m-cancel"])
