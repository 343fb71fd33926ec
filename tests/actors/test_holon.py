"""Pure Holon mode on the in-memory runtime: a node runs the jobs, the holon works for a parent
orchestrator (``MemoryParent``, driven from the parent's side). Heartbeats tick on the fake
clock: one per ``clock.advance(INTERVAL)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from rxon.constants import ERROR_CODE_PERMANENT
from rxon.models import TaskPayload, TaskResult

from actors.holon import Holon, HolonConfig, holon_job_id
from actors.holon_loops import HolonLoops
from actors.node import Node
from actors.ports.store import WebhookDelivery
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.job import JobState
from engine.messages import Cancel, ParentTask, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_parent import MemoryParent

INTERVAL = 15.0


def blueprints() -> BlueprintRegistry:
    """``double`` ends at once with ``doubled``; ``waits`` waits for a worker nobody runs;
    ``broken`` fails (its handler asks for what does not exist); ``raises`` is quarantined."""
    registry = BlueprintRegistry()
    double, waits = StateMachineBlueprint("double"), StateMachineBlueprint("waits")
    broken, raises = StateMachineBlueprint("broken"), StateMachineBlueprint("raises")

    @double.handler_for("start", is_start=True)
    async def twice(n: int, state_history: dict[str, Any], actions: Any) -> None:
        state_history["doubled"] = 2 * n
        actions.transition_to("done")

    @waits.handler_for("start", is_start=True)
    async def wait(actions: Any) -> None:
        actions.dispatch_task("nobody_has_it", {}, {"success": "done"})

    @broken.handler_for("start", is_start=True)
    async def ask(no_such_argument: Any, actions: Any) -> None:
        actions.transition_to("done")

    @raises.handler_for("start", is_start=True, transitions=["done"])
    async def explode(actions: Any) -> None:
        raise RuntimeError("boom")

    for bp in (double, waits, broken, raises):

        @bp.handler_for("done", is_end=True)
        async def done() -> None:
            pass

        registry.register(bp)
    return registry


@dataclass
class Holarchy:
    parent: MemoryParent
    store: MemoryStore
    broker: MemoryBroker
    clock: FakeClock
    loops: HolonLoops

    async def offer(self, task_type: str, params: dict[str, Any] | None = None, task_id: str = "t1") -> TaskPayload:
        task = TaskPayload(job_id=f"parent-job-of-{task_id}", task_id=task_id, type=task_type, params=params or {})
        await self.parent.offer(task)
        return task

    async def job(self, task_id: str = "t1") -> JobState | None:
        return await self.store.load_job(holon_job_id(task_id))

    def answers(self, task_id: str = "t1") -> list[TaskResult]:
        return self.parent.accepted(task_id)


@asynccontextmanager
async def holarchy(clock: FakeClock, capacity: int = 10, store: MemoryStore | None = None) -> AsyncIterator[Holarchy]:
    registry, broker, store = blueprints(), MemoryBroker(shards=4), store or MemoryStore()
    parent = MemoryParent(worker_id="holon-1")

    async def no_webhooks(delivery: WebhookDelivery, timestamp: int) -> None:
        raise AssertionError("no webhook expected")

    policy = StepPolicy(max_step_retries=0)
    node = Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=policy,
        sender=no_webhooks,
        clock=clock,
        sleep=clock.held_sleep,
    )
    config = HolonConfig(client_id="owner", capacity=capacity, heartbeat_interval=INTERVAL, grace=60.0)
    holon = Holon(parent, registry, store, broker, config, clock)
    async with node, HolonLoops(holon, broker, sleep=clock.held_sleep) as loops:
        await loops.registered.wait()
        yield Holarchy(parent, store, broker, clock, loops)


async def test_the_holon_registers_its_blueprints_as_skills(clock: FakeClock) -> None:
    async with holarchy(clock) as h:
        [skills] = h.parent.registrations

    assert sorted(skill.name for skill in skills) == ["broken", "double", "raises", "waits"]
    assert {skill.type for skill in skills} == {"blueprint"}


async def test_a_parent_task_runs_its_blueprint_and_the_end_answers_it(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with holarchy(clock) as h:
        await h.offer("double", {"n": 21})

        await eventually(h.answers, "the parent's task to be answered")
        job = await h.job()
        running = await h.store.holon_tasks()

    [answer] = h.answers()
    assert (answer.job_id, answer.task_id, answer.worker_id) == ("parent-job-of-t1", "t1", "holon-1")
    assert answer.status == "success"
    assert answer.data == {"doubled": 42}
    assert job is not None and job.status == j.FINISHED
    assert (job.blueprint, job.initial_data, job.client_id) == ("double", {"n": 21}, "owner")
    assert job.parent_task == ParentTask("t1", "parent-job-of-t1")
    assert running == {}


@pytest.mark.parametrize(("blueprint", "status"), [("broken", j.FAILED), ("raises", j.QUARANTINED)])
async def test_a_job_that_fails_answers_with_a_permanent_error(
    clock: FakeClock, eventually: Eventually, blueprint: str, status: str
) -> None:
    async with holarchy(clock) as h:
        await h.offer(blueprint)

        await eventually(h.answers, "the parent's task to be answered")
        job = await h.job()

    [answer] = h.answers()
    assert answer.status == "failure" and answer.error is not None
    assert answer.error.code == ERROR_CODE_PERMANENT
    assert status in answer.error.message
    assert job is not None and job.error is not None and job.error in answer.error.message
    assert answer.error.details == {"job_id": job.id, "status": status}


async def test_a_task_naming_no_blueprint_here_is_refused(clock: FakeClock) -> None:
    """The holon polls for its skills only; a parent that hands out another task anyway (upstream
    ignores ``available_skills``) gets it back at once."""
    async with holarchy(clock) as h:
        await h.loops.holon.accept(TaskPayload(job_id="pj", task_id="t1", type="no_such_blueprint"))
        job = await h.job()

    [answer] = h.answers()
    assert answer.status == "failure" and answer.error is not None
    assert answer.error.code == ERROR_CODE_PERMANENT
    assert "no_such_blueprint" in answer.error.message
    assert job is None


async def test_a_task_delivered_again_runs_no_second_job_and_is_answered_again(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with holarchy(clock) as h:
        task = await h.offer("double", {"n": 1})
        await eventually(lambda: len(h.answers()) == 1, "the first answer")
        first = await h.job()

        await h.parent.offer(task)
        await eventually(lambda: len(h.answers()) == 2, "the second answer")
        again = await h.job()
        history = await h.store.load_history(holon_job_id("t1"))

    assert first is not None and again is not None and again.version == first.version
    assert [a.data for a in h.answers()] == [{"doubled": 2}, {"doubled": 2}]
    assert [e.event for e in history].count("job_started") == 1


async def test_heartbeats_list_the_running_tasks_and_the_load(clock: FakeClock, eventually: Eventually) -> None:
    async with holarchy(clock, capacity=2) as h:
        await eventually(lambda: h.parent.heartbeats, "the first heartbeat")
        await h.offer("waits", task_id="a")
        await eventually(lambda: h.job("a"), "the first job")
        clock.advance(INTERVAL)
        await eventually(lambda: len(h.parent.heartbeats) == 2, "the second heartbeat")
        await h.offer("waits", task_id="b")
        await eventually(lambda: h.job("b"), "the second job")
        clock.advance(INTERVAL)
        await eventually(lambda: len(h.parent.heartbeats) == 3, "the third heartbeat")

    assert [(b.status, b.current_tasks) for b in h.parent.heartbeats] == [
        ("idle", []),
        ("busy", ["a"]),
        ("full", ["a", "b"]),
    ]


async def test_a_cancel_from_the_parent_cancels_the_job(clock: FakeClock, eventually: Eventually) -> None:
    async with holarchy(clock) as h:
        await h.offer("waits")
        await eventually(h.job, "the job")
        h.parent.cancel("t1")

        clock.advance(INTERVAL)
        await eventually(h.answers, "the cancelled task to be answered")
        job = await h.job()
        running = await h.store.holon_tasks()

    assert job is not None and job.status == j.CANCELLED
    assert [a.status for a in h.answers()] == ["cancelled"]
    assert running == {}


async def test_at_capacity_no_task_is_taken_until_one_ends(clock: FakeClock, eventually: Eventually) -> None:
    async with holarchy(clock, capacity=1) as h:
        await h.offer("waits", task_id="a")
        await eventually(lambda: h.job("a"), "the first job")
        await h.offer("double", {"n": 3}, task_id="b")
        await eventually(h.loops.holon.running, "the first task to be recorded")
        assert [task.task_id for task in h.parent.queued] == ["b"]

        h.parent.cancel("a")
        clock.advance(INTERVAL)
        await eventually(lambda: h.answers("b"), "the second task to be answered")

    assert h.parent.queued == []
    assert [a.data for a in h.answers("b")] == [{"doubled": 6}]


async def test_a_parent_that_forgot_the_holon_gets_it_registered_again(
    clock: FakeClock, eventually: Eventually
) -> None:
    async with holarchy(clock) as h:
        await eventually(lambda: h.parent.heartbeats, "the first heartbeat")
        h.parent.forget()

        clock.advance(INTERVAL)
        await eventually(lambda: len(h.parent.registrations) == 2, "a second registration")
        clock.advance(INTERVAL)
        await eventually(lambda: len(h.parent.heartbeats) == 2, "a heartbeat after it")


async def test_an_answer_the_parent_could_not_take_is_sent_again(clock: FakeClock, eventually: Eventually) -> None:
    async with holarchy(clock) as h:
        await h.offer("waits")
        await eventually(h.job, "the job")
        h.parent.away = True
        await h.broker.publish(routes.JOBS, envelope(holon_job_id("t1"), Cancel(), clock()))

        await eventually(lambda: h.parent.unanswered > 0, "an answer to fail")
        assert h.answers() == []
        h.parent.away = False
        await eventually(h.answers, "the answer")
        running = await h.store.holon_tasks()

    assert [a.status for a in h.answers()] == ["cancelled"]
    assert running == {}


async def test_at_start_up_what_a_crash_left_is_repaired(clock: FakeClock, eventually: Eventually) -> None:
    """Records older than the grace: without a job (dropped), with a pending job (started), with
    an ended job (answered again); a young record without a job may be mid-accept: kept, until
    the second pass a grace later."""
    store = MemoryStore()
    old, young = clock() - 120.0, clock()
    for task_id, at in (("no-job", old), ("pending", old), ("ended", old), ("young", young)):
        await store.add_holon_task(task_id, at)
    for task_id, status in (("pending", j.PENDING), ("ended", j.FINISHED)):
        state = JobState(
            id=holon_job_id(task_id),
            blueprint="double",
            client_id="owner",
            current_state="start" if status == j.PENDING else "done",
            initial_data={"n": 5},
            created_at=old,
            updated_at=old,
            status=status,
            state_history={} if status == j.PENDING else {"doubled": 8},
            parent_task=ParentTask(task_id, f"parent-job-of-{task_id}"),
        )
        assert await store.create_job(state)

    async def none_left() -> bool:
        return await store.holon_tasks() == {}

    async with holarchy(clock, store=store) as h:
        await eventually(lambda: h.answers("pending") and h.answers("ended"), "both jobs to be answered")
        running = await store.holon_tasks()
        clock.advance(60.0)  # the second pass, a grace after start-up
        await eventually(none_left, "the young record to be dropped")

    assert [a.data for a in h.answers("pending")] == [{"doubled": 10}]
    assert [a.data for a in h.answers("ended")] == [{"doubled": 8}]
    assert running == {"young": young}


async def test_a_parent_task_with_a_trace_makes_a_job_in_that_trace(clock: FakeClock, eventually: Eventually) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with holarchy(clock) as h:
        task = TaskPayload(job_id="pj", task_id="t1", type="double", params={"n": 1})
        await h.parent.offer(msgspec.structs.replace(task, tracing_context={"traceparent": traceparent}))
        await eventually(h.answers, "the parent's task to be answered")
        job = await h.job()

    assert job is not None and job.traceparent == traceparent
