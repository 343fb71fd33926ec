"""Task leases through a node on the in-memory broker and store, on a fake clock.

A worker here is what the gateway does on its behalf: ``take_task`` records the lease and
``TaskStarted`` announces the pickup; a heartbeat is ``extend_leases``. The node's timeouts actor
sweeps expired leases on its own ticker as the fake clock moves; tests also call
``sweep_leases``/``fire_due`` directly, so whichever comes first, the outcome is the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from actors.node import Node
from actors.timeouts import TimeoutsActor
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.job import JobState
from engine.messages import Start, TaskDone, TaskLost, TaskOffer, TaskStarted, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.blueprints import one_task
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from tests.support.webhooks import Receiver
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"
LEASE = 60.0
POLICY = StepPolicy(backoff_base=1.0, result_timeout=24 * 3600.0)  # a day: only the lease can catch a death


@dataclass
class Running:
    node: Node
    broker: MemoryBroker
    store: MemoryStore
    clock: FakeClock

    async def job(self) -> JobState:
        state = await self.store.load_job(JOB)
        assert state is not None
        return state

    async def take(self, worker_id: str, skill: str = "echo") -> TaskOffer:
        """``worker_id`` polls and gets a task: leased, and its pickup announced to its owner."""
        offer = await self.store.take_task(worker_id, [skill], 5.0, self.clock(), lease_seconds=LEASE)
        assert offer is not None
        route, key = (routes.AGGREGATOR, offer.group_id) if offer.group_id else (routes.JOBS, JOB)
        await self.broker.publish(route, envelope(key, TaskStarted(offer.task_id, worker_id, at=self.clock()), 0.0))
        return offer

    async def report(self, offer: TaskOffer, worker_id: str, data: dict[str, Any]) -> None:
        route, key = (routes.AGGREGATOR, offer.group_id) if offer.group_id else (routes.JOBS, JOB)
        await self.broker.publish(route, envelope(key, TaskDone(offer.task_id, worker_id, data=data), self.clock()))


@asynccontextmanager
async def running(bp: StateMachineBlueprint, clock: FakeClock) -> AsyncIterator[Running]:
    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store = MemoryBroker(shards=4), MemoryStore()

    node = Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=POLICY,
        sender=Receiver(),
        clock=clock,
        sleep=clock.held_sleep,
    )
    async with node:
        now = clock()
        state = JobState(
            id=JOB,
            blueprint=bp.name,
            client_id="c",
            current_state=bp.start_state,
            initial_data={},
            created_at=now,
            updated_at=now,
        )
        assert await store.create_job(state)
        await broker.publish(routes.JOBS, envelope(JOB, Start(), now))
        yield Running(node, broker, store, clock)


async def backoff_over(run: Running) -> bool:
    """Once a retry back-off is scheduled (soon, unlike the day-long result deadlines), move the
    clock to it and fire it; true when it has fired."""
    due_at = await run.store.next_due()
    if due_at is None or due_at > run.clock() + LEASE:
        return False
    run.clock.now = max(run.clock.now, due_at)
    await run.node.timeouts.fire_due()
    return True


def fanout_blueprint(k: int) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("long_fanout")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_parallel([{"type": "echo", "params": {"n": n}} for n in range(k)], aggregate_into="gather")

    @bp.aggregator_for("gather")
    async def gather(aggregation_results: dict[str, Any], state_history: dict[str, Any], actions: Any) -> None:
        state_history["by"] = sorted(r["data"]["by"] for r in aggregation_results.values())
        actions.transition_to("done")

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    return bp


async def test_a_task_whose_worker_never_heartbeats_goes_to_another_worker_after_the_lease(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with running(one_task("long_echo", params={}), clock) as run:
        first = await run.take("w1")

        async def picked_by(worker_id: str) -> bool:
            task = (await run.job()).task
            return task is not None and task.worker_id == worker_id

        await eventually(lambda: picked_by("w1"), "w1's pickup to reach the job")
        clock.advance(LEASE - 1)  # w1 dies: no heartbeat ever extends its lease
        assert await run.node.timeouts.sweep_leases() == 0
        assert await run.store.get_lease(first.task_id) is not None

        clock.advance(2)
        await run.node.timeouts.sweep_leases()

        await eventually(lambda: backoff_over(run), "the job to retry the lost task after a back-off")
        assert await run.store.get_lease(first.task_id) is None
        state = await run.job()
        assert state.task is not None
        assert state.task.attempt == 2
        assert state.error == "worker w1 stopped heartbeating task 'echo': its lease expired"

        second = await run.take("w2")
        state = await run.job()
        assert state.task is not None
        assert second.task_id == state.task.id != first.task_id
        await eventually(lambda: picked_by("w2"), "w2's pickup to reach the job")
        await run.report(first, "w1", {"by": "w1, too late"})  # the lost worker's late result: stale
        await run.report(second, "w2", {"by": "w2"})

        async def finished() -> bool:
            return (await run.job()).status == j.FINISHED

        await eventually(finished, "w2's result to finish the job")
        state = await run.job()

    assert state.state_history == {"by": "w2"}


async def test_heartbeats_keep_a_long_task_its_workers_for_many_lease_periods(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with running(one_task("long_echo", params={}), clock) as run:
        offer = await run.take("w1")

        for _ in range(10):  # five lease periods, a heartbeat every half lease
            clock.advance(LEASE / 2)
            assert await run.store.extend_leases("w1", [offer.task_id], clock() + LEASE) == [offer.task_id]
            assert await run.node.timeouts.sweep_leases() == 0

        await run.report(offer, "w1", {"by": "w1"})

        async def finished() -> bool:
            return (await run.job()).status == j.FINISHED

        await eventually(finished, "the long task's result to finish the job")
        state = await run.job()

    assert state.state_history == {"by": "w1"}
    assert state.error is None  # never retried


async def test_a_lost_branch_goes_back_to_its_group_and_another_worker_finishes_the_fan_out(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with running(fanout_blueprint(2), clock) as run:
        lost = await run.take("w1")
        kept = await run.take("w2")
        assert lost.group_id is not None

        for _ in range(3):  # w2 heartbeats its branch; w1 is gone
            clock.advance(LEASE / 2)
            await run.store.extend_leases("w2", [kept.task_id], clock() + LEASE)
        await run.node.timeouts.sweep_leases()

        await eventually(lambda: backoff_over(run), "the group to retry the lost branch after a back-off")
        again = await run.take("w3")
        assert again.group_id == lost.group_id
        assert again.task_id != lost.task_id
        await run.report(kept, "w2", {"by": "w2"})
        await run.report(again, "w3", {"by": "w3"})

        async def finished() -> bool:
            return (await run.job()).status == j.FINISHED

        await eventually(finished, "the fan-out to finish")
        state = await run.job()

    assert state.state_history == {"by": ["w2", "w3"]}


async def test_the_sweep_tells_each_lost_task_s_owner_once_and_releases_the_lease(clock: FakeClock) -> None:
    store, broker = MemoryStore(), MemoryBroker(shards=4)
    timeouts = TimeoutsActor(store, broker, clock, batch=2)
    for n in range(3):
        await store.push_task(TaskOffer(job_id=f"job-{n}", task_id=f"t{n}", type="echo", params={}))
    await store.push_task(TaskOffer(job_id="job-9", task_id="b1", type="echo", params={}, group_id="group-9"))
    for worker in ("w0", "w1", "w2", "w9"):
        await store.take_task(worker, ["echo"], 0, clock(), lease_seconds=LEASE)
    clock.advance(LEASE)

    assert await timeouts.sweep_leases() == 4  # in batches of two
    assert await timeouts.sweep_leases() == 0

    jobs = {(e.id, e.key, e.body) for e in broker.pending(routes.JOBS)}
    assert jobs == {(f"lost:t{n}", f"job-{n}", TaskLost(f"t{n}", f"w{n}")) for n in range(3)}
    assert [(e.id, e.key, e.body) for e in broker.pending(routes.AGGREGATOR)] == [
        ("lost:b1", "group-9", TaskLost("b1", "w9"))
    ]
    assert await store.expired_leases(clock() + 10 * LEASE, 10) == []
    await broker.close()
