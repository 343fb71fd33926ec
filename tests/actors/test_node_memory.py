"""A node end to end on the in-memory broker and store, with a fake clock for deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from actors.node import Node
from actors.ports.store import WebhookDelivery
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.errors import BrokerUnavailable
from engine.job import JobState
from engine.messages import Envelope, Start, TaskDone, TaskStarted, Timeout, WorkerEvent, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from tests.support.webhooks import Receiver
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"
LEASE = 60.0

# Fixtures of tests/actors/conftest.py: ``clock`` (a FakeClock) and ``eventually(condition, what)``.


@dataclass
class Running:
    node: Node
    broker: MemoryBroker
    store: MemoryStore
    clock: FakeClock
    receiver: Receiver

    async def start_job(self, bp: StateMachineBlueprint, webhook_url: str | None = None) -> None:
        now = self.clock()
        state = JobState(
            id=JOB,
            blueprint=bp.name,
            client_id="c",
            current_state=bp.start_state,
            initial_data={"x": 1},
            created_at=now,
            updated_at=now,
            webhook_url=webhook_url,
        )
        assert await self.store.create_job(state)
        await self.broker.publish(routes.JOBS, envelope(JOB, Start(), now, id="m-start"))

    async def job(self) -> JobState:
        state = await self.store.load_job(JOB)
        assert state is not None
        return state

    async def status_is(self, status: str) -> bool:
        return (await self.job()).status == status


class FirstTimeoutPublishFails(MemoryBroker):
    """A real in-memory broker that loses its connection once, when a deadline is published."""

    failed = False

    async def publish(self, route: str, env: Envelope) -> None:
        if isinstance(env.body, Timeout) and not self.failed:
            self.failed = True
            raise BrokerUnavailable("broker connection lost")
        await super().publish(route, env)


@asynccontextmanager
async def running(
    bp: StateMachineBlueprint, clock: FakeClock, policy: StepPolicy | None = None, broker: MemoryBroker | None = None
) -> AsyncIterator[Running]:
    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store = broker or MemoryBroker(shards=4), MemoryStore()
    receiver = Receiver(clock=clock)
    node = Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=policy or StepPolicy(),
        sender=receiver,
        clock=clock,
        sleep=clock.held_sleep,
    )
    async with node:
        yield Running(node, broker, store, clock, receiver)


def echo_blueprint(**dispatch: Any) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("echo_flow")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, x: int) -> None:
        actions.dispatch_task("echo", {"x": x}, {"success": "done"}, **dispatch)

    @bp.handler_for("done", is_end=True)
    async def done(state_history: dict[str, Any], echo: Any) -> None:
        state_history["seen"] = echo

    return bp


async def test_a_job_finishes_after_a_worker_takes_its_task_and_reports(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with running(echo_blueprint(), clock) as run:
        await run.start_job(echo_blueprint())

        offer = await run.store.take_task("w1", ["echo"], 5.0, clock(), lease_seconds=LEASE)
        assert offer is not None
        assert (offer.job_id, offer.params) == (JOB, {"x": 1})
        await run.broker.publish(routes.JOBS, envelope(JOB, TaskStarted(offer.task_id, "w1", at=clock()), clock()))
        result = TaskDone(offer.task_id, "w1", data={"echo": {"x": 1}})
        await run.broker.publish(routes.JOBS, envelope(JOB, result, clock()))

        await eventually(lambda: run.status_is(j.FINISHED), "the job to finish")
        state = await run.job()

    assert state.current_state == "done"
    assert state.state_history == {"echo": {"x": 1}, "seen": {"x": 1}}
    assert state.task is None


async def test_a_dispatch_timeout_fires_through_the_timeouts_actor_on_the_fake_clock(
    clock: FakeClock, eventually: Eventually
) -> None:
    bp = echo_blueprint(dispatch_timeout=30)
    async with running(bp, clock) as run:
        await run.start_job(bp)
        deadline = clock() + 30

        async def deadline_scheduled() -> bool:
            return await run.store.next_due() == deadline

        await eventually(deadline_scheduled, "the dispatch deadline to be scheduled")
        assert await run.node.timeouts.fire_due() == 0  # not due yet on the fake clock
        assert await run.status_is(j.WAITING_FOR_WORKER)

        clock.advance(31)
        await run.node.timeouts.fire_due()  # the node's own ticker may fire it first: same outcome

        await eventually(lambda: run.status_is(j.FAILED), "the job to fail")
        state = await run.job()
        assert await run.store.next_due() is None

    assert state.error == "no worker with skill 'echo' took the task within 30 s"


async def test_a_step_retry_waits_for_its_backoff_on_the_fake_clock(clock: FakeClock, eventually: Eventually) -> None:
    calls: list[int] = []
    bp = StateMachineBlueprint("flaky")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient hiccup")
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    async with running(bp, clock, StepPolicy(backoff_base=10.0)) as run:
        await run.start_job(bp)

        async def retry_scheduled() -> bool:
            return await run.store.next_due() is not None

        await eventually(retry_scheduled, "the step retry to be scheduled")
        due_at = await run.store.next_due()
        assert due_at is not None
        assert await run.node.timeouts.fire_due() == 0
        assert calls == [1]

        clock.now = due_at
        await run.node.timeouts.fire_due()

        await eventually(lambda: run.status_is(j.FINISHED), "the retried job to finish")

    assert calls == [1, 1]


async def test_a_finished_job_notifies_its_webhook(clock: FakeClock, eventually: Eventually) -> None:
    bp = StateMachineBlueprint("quick")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end(state_history: dict[str, Any]) -> None:
        state_history["ok"] = True

    async with running(bp, clock) as run:
        await run.start_job(bp, webhook_url="http://hook.example/x")

        await eventually(lambda: bool(run.receiver.delivered), "the webhook to be called")

    [attempt] = run.receiver.attempts
    assert attempt.url == "http://hook.example/x"
    assert attempt.timestamp == int(clock())
    assert attempt.payload == {
        "event": "job_finished",
        "job_id": JOB,
        "status": "finished",
        "result": {"ok": True},
        "error": None,
    }


async def test_a_worker_event_mapped_in_event_transitions_moves_the_job_and_reaches_the_webhook(
    clock: FakeClock, eventually: Eventually
) -> None:
    bp = StateMachineBlueprint("previews")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("render", {}, {"success": "rendered"}, event_transitions={"preview": "previewed"})

    @bp.handler_for("previewed", is_end=True)
    async def previewed(url: str) -> None:
        pass

    @bp.handler_for("rendered", is_end=True)
    async def rendered() -> None:
        pass

    async with running(bp, clock) as run:
        await run.start_job(bp, webhook_url="http://hook.example/x")
        offer = await run.store.take_task("w1", ["render"], 5.0, clock(), lease_seconds=LEASE)
        assert offer is not None
        await run.broker.publish(routes.JOBS, envelope(JOB, TaskStarted(offer.task_id, "w1", at=clock()), clock()))
        event = WorkerEvent(
            event_id="e1", event_type="preview", worker_id="w1", task_id=offer.task_id, payload={"url": "a.png"}
        )
        await run.broker.publish(routes.JOBS, envelope(JOB, event, clock(), id="worker-event:e1"))
        await eventually(lambda: run.status_is(j.FINISHED), "the job to finish")
        await eventually(lambda: len(run.receiver.delivered) == 2, "both webhooks")
        history = await run.store.load_history(JOB)

    state = await run.job()
    assert (state.current_state, state.state_history) == ("previewed", {"url": "a.png"})
    assert sorted(p["event"] for p in run.receiver.delivered) == ["job_finished", "worker_event:preview"]
    [recorded] = [e for e in history if e.event == "worker_event"]
    assert (recorded.details["event_type"], recorded.details["moved_to"]) == ("preview", "previewed")


async def test_a_hanging_webhook_receiver_does_not_hold_up_jobs(clock: FakeClock, eventually: Eventually) -> None:
    bp = StateMachineBlueprint("quick")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    hanging: list[str] = []

    async def hangs(delivery: WebhookDelivery, timestamp: int) -> None:
        hanging.append(delivery.job_id)
        await asyncio.Event().wait()

    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store = MemoryBroker(shards=4), MemoryStore()
    node = Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=StepPolicy(),
        sender=hangs,
        clock=clock,
        sleep=clock.held_sleep,
        webhook_concurrency=1,
        webhook_timeout=3600.0,
    )
    async with node:
        for i in range(20):
            job = JobState(
                id=f"job-{i}",
                blueprint="quick",
                client_id="c",
                current_state="start",
                initial_data={},
                created_at=clock(),
                updated_at=clock(),
                webhook_url="http://hook.example/x",
            )
            assert await store.create_job(job)
            await broker.publish(routes.JOBS, envelope(job.id, Start(), clock()))

        async def all_finished() -> bool:
            states = [await store.load_job(f"job-{i}") for i in range(20)]
            return all(s is not None and s.status == j.FINISHED for s in states)

        await eventually(all_finished, "every job to finish while the receiver hangs")
        await eventually(lambda: len(hanging) == 1, "the one slot to be taken")
        assert await store.next_webhook_due() is not None  # the others wait in the store, not in a job
    assert len(hanging) == 1


async def test_node_close_is_idempotent(clock: FakeClock) -> None:
    """A second close (and the ``async with`` exit after it) is no error and changes nothing: the
    closed node consumes nothing and leaves its ticker stopped."""
    bp = echo_blueprint()
    async with running(bp, clock) as run:
        await run.node.close()
        await run.node.close()

        await run.start_job(bp)
        clock.advance(60)
        for _ in range(50):  # what a running node would do within a few loop turns
            await asyncio.sleep(0)

        assert [e.id for e in run.broker.pending(routes.JOBS)] == ["m-start"]
        assert (await run.job()).status == j.PENDING
        assert clock.sleepers == 0


async def test_closing_the_node_lets_an_in_flight_message_finish_and_ack(
    clock: FakeClock, eventually: Eventually
) -> None:
    """Node's docstring: close() "stops consuming, lets in-flight messages finish and ack"."""
    entered, gate = asyncio.Event(), asyncio.Event()
    bp = StateMachineBlueprint("slow")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        entered.set()
        await gate.wait()
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    async with running(bp, clock) as run:
        await run.start_job(bp)
        await asyncio.wait_for(entered.wait(), 5)
        closing = asyncio.ensure_future(run.node.close())
        for _ in range(20):
            await asyncio.sleep(0)
        gate.set()
        await asyncio.wait_for(closing, 5)

        assert await run.status_is(j.FINISHED)
        assert [e.id for e in run.broker.pending(routes.JOBS)] == []  # acked, not handed back


async def test_a_failed_deadline_publish_does_not_take_the_node_down(clock: FakeClock, eventually: Eventually) -> None:
    """The timeouts actor runs in the node's TaskGroup without supervision: one failed publish
    (a broker hiccup) ends its loop, which cancels every consumer and the task that opened the node."""
    bp = echo_blueprint(dispatch_timeout=30)
    broker = FirstTimeoutPublishFails(shards=4)
    async with running(bp, clock, broker=broker) as run:
        await run.start_job(bp)

        async def deadline_scheduled() -> bool:
            return await run.store.next_due() is not None

        await eventually(deadline_scheduled, "the dispatch deadline to be scheduled")
        clock.advance(31)  # the node's own ticker fires the deadline; the first publish fails
        await eventually(lambda: broker.failed, "the first publish of the deadline")
        clock.advance(1)  # past the restart back-off of the ticker that failed

        await eventually(lambda: run.status_is(j.FAILED), "the deadline to fire on a later tick")

    assert broker.failed
