"""The router on the in-memory store: whom it reserves each task for.

A worker here is what the gateway does on its behalf: registration and heartbeats are
``put_worker``, a poll is ``take_task``. Polls use a zero timeout, so whether a worker may take a
task is read at once, at the fake clock's time.
"""

from __future__ import annotations

from typing import Any

from actors.node import Node
from actors.ports.store import WorkerRecord
from actors.router import RouterActor
from actors.stats import Stats
from engine import routes
from engine.job import JobState
from engine.messages import Envelope, Start, TaskOffer, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.blueprints import one_task
from tests.support.clock import FakeClock
from tests.support.webhooks import Receiver
from transport.memory import MemoryBroker, MemoryStore

RESERVATION = 2.0


def offer(task_id: str, **params: Any) -> TaskOffer:
    return TaskOffer(job_id="job-1", task_id=task_id, type="generate", params=params)


async def beat(store: MemoryStore, clock: FakeClock, worker_id: str, **fields: Any) -> None:
    """Register or heartbeat ``worker_id`` at the clock's time, with the skill ``generate``."""
    now = clock()
    await store.put_worker(
        WorkerRecord(worker_id=worker_id, skills=["generate"], last_seen=now, expires_at=now + 60, **fields)
    )


async def poll(store: MemoryStore, clock: FakeClock, worker_id: str) -> str | None:
    taken = await store.take_task(worker_id, ["generate"], 0, now=clock(), lease_seconds=60.0)
    return None if taken is None else taken.task_id


async def route(router: RouterActor, clock: FakeClock, *offers: TaskOffer) -> None:
    for body in offers:
        await router.handle(envelope("generate", body, clock()))


def router_on(store: MemoryStore, clock: FakeClock) -> RouterActor:
    return RouterActor(store, clock=clock, reservation_seconds=RESERVATION)


async def test_a_task_naming_a_model_is_reserved_for_the_worker_holding_it(clock: FakeClock) -> None:
    store = MemoryStore()
    await beat(store, clock, "w1")
    await beat(store, clock, "w2", hot_skills=["model-x"], current_tasks=["busy-1", "busy-2"])

    await route(router_on(store, clock), clock, offer("t1", model_name="model-x"))

    assert await poll(store, clock, "w1") is None
    assert await poll(store, clock, "w2") == "t1"


async def test_two_offers_spread_over_two_idle_workers_by_optimistic_load(clock: FakeClock) -> None:
    store = MemoryStore()
    await beat(store, clock, "w1")
    await beat(store, clock, "w2")

    await route(router_on(store, clock), clock, offer("t1"), offer("t2"))

    assert await poll(store, clock, "w2") == "t2"  # t1 is w1's: the tie went to the lower id
    assert await poll(store, clock, "w2") is None
    assert await poll(store, clock, "w1") == "t1"


async def test_routers_on_two_nodes_see_each_others_reservations(clock: FakeClock) -> None:
    """The optimistic load lives in the store: a second node's router does not pile onto w1."""
    store = MemoryStore()
    await beat(store, clock, "w1")
    await beat(store, clock, "w2")

    await route(router_on(store, clock), clock, offer("t1"))
    await route(router_on(store, clock), clock, offer("t2"))  # another router instance

    assert await poll(store, clock, "w1") == "t1"
    assert await poll(store, clock, "w2") == "t2"


async def test_a_heartbeat_replaces_the_optimistic_count_with_the_reported_tasks(clock: FakeClock) -> None:
    store = MemoryStore()
    router = router_on(store, clock)
    await beat(store, clock, "w1")
    await beat(store, clock, "w2")
    await route(router, clock, offer("t1"), offer("t2"), offer("t3"))  # w1, w2, then w1 again: w1 counts 2

    clock.advance(1.0)  # past the router's half-second cache of the capability set
    await beat(store, clock, "w1")  # w1 reports nothing running: its count starts over
    await route(router, clock, offer("t4"))

    assert await poll(store, clock, "w2") == "t2"
    assert await poll(store, clock, "w2") is None  # t4 went to w1 (0 tasks) over w2 (1 reserved)


async def test_without_an_eligible_worker_the_task_waits_unreserved(clock: FakeClock) -> None:
    store = MemoryStore()
    await beat(store, clock, "w1", status="draining")
    await beat(store, clock, "w2", status="full")

    await route(router_on(store, clock), clock, offer("t1"))
    await beat(store, clock, "late")  # registers after the offer was routed

    assert await poll(store, clock, "late") == "t1"


async def test_a_tasks_priority_ages_from_when_the_router_queued_it_on_its_clock(clock: FakeClock) -> None:
    """One unit of priority is worth a minute of waiting (the default aging): ``urgent`` queued
    half a minute after ``old`` overtakes it, ``late`` queued two minutes after does not. On the
    wall clock all three would count as queued at once and both priority-1 tasks would go first."""
    store = MemoryStore()
    router = router_on(store, clock)
    await route(router, clock, TaskOffer(job_id="job-1", task_id="old", type="generate", params={}))
    clock.advance(30.0)
    await route(router, clock, TaskOffer(job_id="job-2", task_id="urgent", type="generate", params={}, priority=1))
    clock.advance(90.0)
    await route(router, clock, TaskOffer(job_id="job-3", task_id="late", type="generate", params={}, priority=1))
    await beat(store, clock, "w1")

    assert [await poll(store, clock, "w1") for _ in range(4)] == ["urgent", "old", "late", None]


async def test_a_reservation_lapses_and_another_worker_takes_the_task(clock: FakeClock) -> None:
    store = MemoryStore()
    await beat(store, clock, "w1", hot_skills=["generate"])
    await beat(store, clock, "w2")
    await route(router_on(store, clock), clock, offer("t1"))

    assert await poll(store, clock, "w2") is None
    clock.advance(RESERVATION)  # w1 died or never polled
    assert await poll(store, clock, "w2") == "t1"


async def test_the_router_rereads_a_skills_workers_only_after_its_cache_period(clock: FakeClock) -> None:
    store = MemoryStore()
    router = RouterActor(store, clock=clock, reservation_seconds=RESERVATION, workers_cache_seconds=1.0)
    await beat(store, clock, "w1", current_tasks=["busy-1"])
    await route(router, clock, offer("t1"))
    await beat(store, clock, "w2")  # idle, but registered after the router read the set

    await route(router, clock, offer("t2"))
    assert await poll(store, clock, "w2") is None  # t1 and t2 both went to w1, the only one seen

    clock.advance(1.0)
    await route(router, clock, offer("t3"))
    assert await poll(store, clock, "w2") == "t3"


async def test_the_node_routes_offers_through_its_router(clock: FakeClock) -> None:
    broker, store = MemoryBroker(shards=4), MemoryStore()
    await beat(store, clock, "w1")
    await beat(store, clock, "w2", hot_skills=["model-x"])

    node = Node(
        registry=BlueprintRegistry(),
        store=store,
        broker=broker,
        policy=StepPolicy(),
        sender=Receiver(),
        clock=clock,
        sleep=clock.held_sleep,
    )
    async with node:
        await broker.publish(routes.ROUTER, envelope("generate", offer("t1", model_name="model-x"), clock()))
        taken = await store.take_task("w2", ["generate"], 5.0, now=clock(), lease_seconds=60.0)

    assert taken is not None and taken.task_id == "t1"


class RecordingBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__(shards=4)
        self.routes: list[str] = []

    async def publish(self, route: str, env: Envelope) -> None:
        self.routes.append(route)
        await super().publish(route, env)


async def test_a_nodes_jobs_hand_their_offers_to_its_router_without_a_message(clock: FakeClock) -> None:
    broker, store = RecordingBroker(), MemoryStore()
    bp = one_task("dispatcher", skill="generate")
    registry = BlueprintRegistry()
    registry.register(bp)
    job = JobState(
        id="job-1",
        blueprint=bp.name,
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=clock(),
        updated_at=clock(),
    )
    assert await store.create_job(job)
    await beat(store, clock, "w1")

    node = Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=StepPolicy(),
        sender=Receiver(),
        clock=clock,
        sleep=clock.held_sleep,
    )
    async with node:
        await broker.publish(routes.JOBS, envelope("job-1", Start(), clock()))
        taken = await store.take_task("w1", ["generate"], 5.0, now=clock(), lease_seconds=60.0)

    assert taken is not None and taken.job_id == "job-1"
    assert routes.ROUTER not in broker.routes  # routed in process: no publish, delivery or ack


async def test_each_decision_is_counted_hot_cold_or_unreserved(clock: FakeClock) -> None:
    store, stats = MemoryStore(), Stats()
    router = RouterActor(store, clock=clock, reservation_seconds=RESERVATION, stats=stats)
    await route(router, clock, offer("t1"))  # nobody registered yet
    await beat(store, clock, "w1")
    await beat(store, clock, "w2", hot_skills=["model-x"])
    clock.advance(1.0)  # past the router's capability cache

    await route(router, clock, offer("t2", model_name="model-x"), offer("t3", model_name="model-y"), offer("t4"))

    assert stats.routed == {"unreserved": 1, "hot": 1, "cold": 2}
    assert stats.skills == {"generate"}
