"""The aggregator actor on the in-memory broker and store, with a fake clock: K branch results
make exactly one message to the job, redeliveries change nothing, retried and failed branches
still complete the group; and a whole fan-out job through a node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from rxon.constants import ERROR_CODE_INVALID_INPUT, ERROR_CODE_TRANSIENT

from actors.aggregator import AggregatorActor
from actors.node import Node
from actors.ports.notices import Subscription
from actors.timeouts import TimeoutsActor
from engine import StateMachineBlueprint, routes
from engine import group as g
from engine import job as j
from engine.errors import BrokerUnavailable, StoreUnavailable
from engine.group import BranchState, GroupState, encode_group, new_group
from engine.job import JobState
from engine.messages import (
    AggregateDone,
    BranchSpec,
    CancelNotice,
    Envelope,
    GroupCancel,
    GroupStart,
    Message,
    Start,
    TaskDone,
    TaskOffer,
    TaskStarted,
    envelope,
)
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.actors.faults import PublishFailsOnce
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from tests.support.webhooks import Receiver
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"
GROUP = "group-1"
LEASE = 60.0

# Fixtures of tests/actors/conftest.py: ``clock`` (a FakeClock) and ``eventually(condition, what)``.


class Harness:
    def __init__(self, clock: FakeClock, broker: MemoryBroker | None = None, **policy: Any) -> None:
        self.clock, self.broker, self.store = clock, broker or MemoryBroker(shards=4), MemoryStore()
        self.actor = AggregatorActor(self.store, self.broker, StepPolicy(**policy), clock)
        self.timeouts = TimeoutsActor(self.store, self.broker, clock)

    async def send(self, body: Message, id: str | None = None) -> Envelope:
        env = envelope(GROUP, body, self.clock(), id=id)
        await self.actor.handle(env)
        return env

    async def start(self, k: int = 3, **options: Any) -> None:
        branches = [BranchSpec(task_id=f"t{n}", type="echo", params={"n": n}, **options) for n in range(k)]
        await self.send(GroupStart(group_id=GROUP, job_id=JOB, branches=branches), id=f"group-start:{GROUP}")

    async def group(self) -> GroupState:
        state = await self.store.load_group(GROUP)
        assert state is not None
        return state

    async def branches(self) -> list[BranchState]:
        return sorted(await self.store.load_branches(GROUP), key=lambda b: b.index)

    def to_job(self) -> list[AggregateDone]:
        """What reached the job's mailbox: only ever AggregateDone."""
        found = []
        for env in self.broker.pending(routes.JOBS):
            assert isinstance(env.body, AggregateDone)
            assert (env.key, env.id) == (JOB, f"aggregate:{GROUP}")
            found.append(env.body)
        return found

    def offers(self) -> list[TaskOffer]:
        return [e.body for e in self.broker.pending(routes.ROUTER) if isinstance(e.body, TaskOffer)]

    async def fire_aggregator_deadlines(self) -> list[Envelope]:
        """Fire what is due, then handle what the timeouts actor sent to the aggregator."""
        await self.timeouts.fire_due()
        fired = self.broker.pending(routes.AGGREGATOR)
        consumer = self.broker.consume(routes.AGGREGATOR, prefetch=100)
        iterator = aiter(consumer)
        for _ in fired:
            delivery = await anext(iterator)
            await self.actor.handle(delivery.envelope)
            await delivery.ack()
        await consumer.close()
        return fired


async def test_k_results_make_exactly_one_aggregate_done(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(3)
    assert [o.task_id for o in h.offers()] == ["t0", "t1", "t2"]

    for n in range(3):
        await h.send(TaskStarted(f"t{n}", "w1", at=clock()))
        assert h.to_job() == []
        await h.send(TaskDone(f"t{n}", "w1", data={"n": n}), id=f"result:{GROUP}:t{n}")

    [done] = h.to_job()
    assert done.results == {f"t{n}": {"status": "success", "data": {"n": n}, "error": None} for n in range(3)}
    assert (await h.group()).status == g.DONE


async def test_the_files_branch_workers_uploaded_reach_the_job_under_their_branch(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(3)
    meta = {"uri": "s3://bucket/job-1/out.png", "size": 3, "etag": "e"}

    await h.send(TaskDone("t0", "w1", data={"n": 0}, files={"out": meta}), id=f"result:{GROUP}:t0")
    await h.send(TaskDone("t1", "w1", data={"n": 1}, files={"out": {**meta, "size": 4}}), id=f"result:{GROUP}:t1")
    await h.send(TaskDone("t2", "w1", data={"n": 2}), id=f"result:{GROUP}:t2")

    [done] = h.to_job()
    assert done.files == {"t0.out": meta, "t1.out": {**meta, "size": 4}}  # the same path, two branches
    assert "files" not in done.results["t0"]  # the aggregator's handler sees the results as before


async def test_duplicate_result_deliveries_change_nothing(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(2)
    first = await h.send(TaskDone("t0", data={"n": 0}), id=f"result:{GROUP}:t0")
    before = await h.branches()

    await h.actor.handle(first)  # a redelivery: the same envelope
    await h.send(TaskDone("t0", data={"n": 99}), id="another-id")  # a second report of a settled branch

    after = await h.branches()
    assert after == before
    assert (await h.group()).settled == 1
    assert h.to_job() == []
    await h.send(TaskDone("t1"), id=f"result:{GROUP}:t1")
    [done] = h.to_job()
    assert done.results["t0"]["data"] == {"n": 0}


async def test_a_redelivered_last_message_republishes_the_aggregate_done_once_more(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(1)
    last = await h.send(TaskDone("t0"), id=f"result:{GROUP}:t0")
    version = (await h.group()).version

    await h.actor.handle(last)

    assert (await h.group()).version == version
    first, again = h.to_job()
    assert first == again  # the same envelope id: the job applies it once


async def test_a_crash_between_commit_and_publish_is_repaired_by_the_redelivery(clock: FakeClock) -> None:
    h = Harness(clock, broker=PublishFailsOnce(routes.JOBS))
    await h.start(1)
    last = envelope(GROUP, TaskDone("t0"), clock(), id=f"result:{GROUP}:t0")

    with pytest.raises(BrokerUnavailable):
        await h.actor.handle(last)
    assert h.to_job() == []

    await h.actor.handle(last)

    assert len(h.to_job()) == 1


async def test_a_start_redelivered_after_the_group_was_created_offers_each_branch_once(clock: FakeClock) -> None:
    h = Harness(clock)
    start = GroupStart(group_id=GROUP, job_id=JOB, branches=[BranchSpec(task_id="t0", type="echo", params={})])
    assert await h.store.create_group(new_group(start, clock()))  # a node died right after creating it

    await h.send(start, id="s")
    await h.send(start, id="s")  # redelivered: the outbox again, the same envelope
    await h.send(start, id="other")  # a second start, whatever its id, offers nothing

    offered = h.broker.pending(routes.ROUTER)
    assert len(offered) == 2
    assert len({e.id for e in offered}) == 1
    assert [o.task_id for o in h.offers()] == ["t0", "t0"]


async def test_a_retried_branch_is_offered_again_after_its_backoff(clock: FakeClock) -> None:
    h = Harness(clock, backoff_base=10.0)
    await h.start(2)
    await h.send(TaskStarted("t0", "w1", at=clock()))
    await h.send(TaskDone("t0", "w1", status="failure", error_code=ERROR_CODE_TRANSIENT))
    retried = (await h.branches())[0].task
    assert retried.id != "t0"
    assert [o.task_id for o in h.offers()] == ["t0", "t1"]  # not yet

    assert await h.fire_aggregator_deadlines() == []
    due = await h.store.next_due()
    assert due is not None
    clock.now = due
    await h.fire_aggregator_deadlines()

    again = h.offers()[-1]
    assert (again.task_id, again.group_id, again.params) == (retried.id, GROUP, {"n": 0})
    await h.send(TaskDone("t0", "w1", data={"late": True}))  # the first attempt, late: stale
    await h.send(TaskDone("t1", "w2"))
    assert h.to_job() == []
    await h.send(TaskDone(retried.id, "w3", data={"second": True}))
    [done] = h.to_job()
    assert done.results["t0"] == {"status": "success", "data": {"second": True}, "error": None}


async def test_a_branch_that_finally_fails_still_completes_the_group(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(3, max_attempts=1)
    await h.send(TaskDone("t0", data={"ok": 0}))
    await h.send(TaskDone("t1", error_code=ERROR_CODE_INVALID_INPUT, error_message="n is odd"))
    await h.send(TaskDone("t2", error_code=ERROR_CODE_TRANSIENT, error_message="flaky"))  # its last attempt

    [done] = h.to_job()
    assert done.results["t0"]["status"] == "success"
    assert done.results["t1"]["status"] == done.results["t2"]["status"] == "failure"
    assert done.results["t1"]["error"]["code"] == ERROR_CODE_INVALID_INPUT
    assert "n is odd" in done.results["t1"]["error"]["message"]
    assert done.results["t2"]["error"]["code"] == ERROR_CODE_TRANSIENT


async def test_a_dispatch_timeout_fails_only_its_branch(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(2, dispatch_timeout=30.0)
    await h.send(TaskStarted("t0", "w1", at=clock()))
    await h.send(TaskDone("t0", "w1"))

    clock.advance(31)
    await h.fire_aggregator_deadlines()

    [done] = h.to_job()
    assert done.results["t0"]["status"] == "success"
    assert done.results["t1"]["status"] == "failure"
    assert "took the task within 30 s" in done.results["t1"]["error"]["message"]


async def test_a_cancelled_group_offers_no_retry_and_reports_nothing(clock: FakeClock) -> None:
    h = Harness(clock, backoff_base=10.0)
    await h.start(2)
    await h.send(TaskDone("t0", error_code=ERROR_CODE_TRANSIENT))
    await h.send(GroupCancel(GROUP, JOB, "job cancelled"))

    clock.advance(60)
    await h.fire_aggregator_deadlines()
    await h.send(TaskDone("t1"))

    assert [o.task_id for o in h.offers()] == ["t0", "t1"]
    assert h.to_job() == []
    assert (await h.group()).status == g.CANCELLED


async def test_a_cancel_that_overtakes_the_start_leaves_a_tombstone(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.send(GroupCancel(GROUP, JOB, "job cancelled"))
    await h.start(3)

    assert h.offers() == []
    assert (await h.group()).status == g.CANCELLED


async def test_cancelling_a_running_group_announces_its_unsettled_branches_to_their_workers(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.start(4)
    await h.send(TaskStarted("t0", "w0", at=clock()))
    t1 = next(o for o in h.offers() if o.task_id == "t1")
    await h.store.push_task(t1)  # taken, but the pickup has not reached the group yet
    assert await h.store.take_task("w1", [t1.type], 0, clock(), lease_seconds=LEASE) == t1
    await h.send(TaskStarted("t2", "w2", at=clock()))
    await h.send(TaskDone("t2", "w2"))  # settled: w2 is done with it
    end = CancelNotice("end", "end", "end")

    with h.store.cancel_notices() as notices:
        await h.send(GroupCancel(GROUP, JOB, "job cancelled"), id="cancel")
        await h.send(GroupCancel(GROUP, JOB, "job cancelled"), id="cancel")  # a redelivery
        await h.store.announce_cancels([end])
        announced = [notice async for notice in _until(notices, end)]

    # t3 was never taken: nobody to tell
    assert sorted(announced, key=lambda n: n.task_id) == [CancelNotice(JOB, "t0", "w0"), CancelNotice(JOB, "t1", "w1")]


async def _until(notices: Subscription[CancelNotice], end: CancelNotice) -> AsyncIterator[CancelNotice]:
    async for notice in notices:
        if notice == end:
            return
        yield notice


async def test_a_message_for_an_unknown_group_is_dropped(clock: FakeClock) -> None:
    h = Harness(clock)
    await h.send(TaskDone("t0"))
    assert await h.store.load_group(GROUP) is None
    assert h.to_job() == []


async def test_the_header_a_branch_message_rewrites_does_not_grow_with_the_branch_count(clock: FakeClock) -> None:
    """ADR 0007: a branch's pickup and result rewrite the header and that branch only."""
    sizes = []
    for k in (2, 120):  # both msgpack fixints: the header differs in nothing but the count
        h = Harness(clock)
        await h.start(k, result_timeout=60.0)
        await h.send(TaskStarted("t0", "w1", at=clock()), id="pickup")
        await h.send(TaskDone("t0", "w1"), id=f"result:{GROUP}:t0")
        header = await h.group()
        assert (header.size, header.settled) == (k, 1)
        sizes.append(len(encode_group(header)))

    assert sizes[0] == sizes[1]


class CommitFailsOnce(MemoryStore):
    """A real in-memory store whose first group commit that ends the group raises, as if the node
    died just before its last write reached the store."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def commit_group(
        self, state: GroupState, expected_version: int, branches: Sequence[BranchState] = ()
    ) -> None:
        if state.terminal and not self.failed:
            self.failed = True
            raise StoreUnavailable("store connection lost")
        await super().commit_group(state, expected_version, branches)


async def test_a_crash_before_the_last_commit_is_repaired_by_the_redelivery(clock: FakeClock) -> None:
    h = Harness(clock)
    h.store = CommitFailsOnce()
    h.actor = AggregatorActor(h.store, h.broker, StepPolicy(), clock)
    await h.start(2)
    await h.send(TaskDone("t0", data={"n": 0}), id=f"result:{GROUP}:t0")
    last = envelope(GROUP, TaskDone("t1", data={"n": 1}), clock(), id=f"result:{GROUP}:t1")

    with pytest.raises(StoreUnavailable):
        await h.actor.handle(last)
    assert h.to_job() == []
    assert (await h.group()).settled == 1  # nothing of the failed step was written

    await h.actor.handle(last)

    [done] = h.to_job()
    assert done.results == {f"t{n}": {"status": "success", "data": {"n": n}, "error": None} for n in range(2)}


# -- a whole fan-out job through a node -----------------------------------------------------------


class CountingBroker(MemoryBroker):
    """A real in-memory broker that also counts what is published to each route."""

    def __init__(self) -> None:
        super().__init__(shards=4)
        self.published: list[tuple[str, Message]] = []

    async def publish(self, route: str, env: Envelope) -> None:
        self.published.append((route, env.body))
        await super().publish(route, env)

    def to_jobs(self, kind: type[Any]) -> int:
        return sum(1 for route, body in self.published if route == routes.JOBS and isinstance(body, kind))


def fanout_blueprint(k: int, seen: list[dict[str, Any]]) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("files")

    @bp.handler_for("process_files", is_start=True)
    async def fan_out(initial_data: dict[str, Any], actions: Any) -> None:
        actions.dispatch_parallel(
            tasks=[{"task_type": "file_analysis", "params": {"file": n}} for n in range(k)],
            aggregate_into="aggregate_results",
        )

    @bp.aggregator_for("aggregate_results")
    async def aggregate(aggregation_results: dict[str, Any], state_history: dict[str, Any], actions: Any) -> None:
        seen.append(aggregation_results)
        state_history["summary"] = sorted(r["data"]["file"] for r in aggregation_results.values())
        actions.transition_to("processing_complete")

    @bp.handler_for("processing_complete", is_end=True)
    async def complete() -> None:
        pass

    return bp


async def test_a_fan_out_job_through_a_node_costs_its_mailbox_one_message(
    clock: FakeClock, eventually: Eventually
) -> None:
    k, seen = 5, list[dict[str, Any]]()
    bp = fanout_blueprint(k, seen)
    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store = CountingBroker(), MemoryStore()

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
        now = clock()
        job = JobState(
            id=JOB,
            blueprint=bp.name,
            client_id="c",
            current_state=bp.start_state,
            initial_data={},
            created_at=now,
            updated_at=now,
        )
        assert await store.create_job(job)
        await broker.publish(routes.JOBS, envelope(JOB, Start(), now))

        for _ in range(k):  # a worker takes each branch and reports, as the gateway would forward it
            offer = await store.take_task("w1", ["file_analysis"], 5.0, clock(), lease_seconds=LEASE)
            assert offer is not None
            assert offer.group_id is not None
            started = TaskStarted(offer.task_id, "w1", at=clock())
            await broker.publish(routes.AGGREGATOR, envelope(offer.group_id, started, clock()))
            done = TaskDone(offer.task_id, "w1", data={"file": offer.params["file"]})
            await broker.publish(routes.AGGREGATOR, envelope(offer.group_id, done, clock()))

        async def finished() -> bool:
            state = await store.load_job(JOB)
            return state is not None and state.status == j.FINISHED

        await eventually(finished, "the fan-out job to finish")

    state = await store.load_job(JOB)
    assert state is not None
    assert state.current_state == "processing_complete"
    assert state.state_history == {"summary": list(range(k))}
    assert len(seen) == 1 and len(seen[0]) == k
    assert broker.to_jobs(AggregateDone) == 1
    assert broker.to_jobs(TaskDone) == broker.to_jobs(TaskStarted) == 0
