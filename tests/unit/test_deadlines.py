"""A job's deadlines (engine.deadlines, ADR 0008): deterministic ids, the set the job keeps, and
which ones a step hands to the commit to add or remove.

Every scenario runs through ``Tracked``, which checks after each step the invariant the design
rests on: a deadline the job keeps is one the step would act on if it fired now, and one it
drops is one the step would ignore."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from rxon.constants import ERROR_CODE_TRANSIENT

from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.deadlines import awaited, deadline_id, settle
from engine.job import JobState, Outgoing, decode_state, encode_state
from engine.messages import Cancel, Message, Start, TaskDone, TaskLost, TaskOffer, TaskStarted, Timeout, envelope
from engine.policy import StepPolicy
from engine.step import JobStep, apply
from tests.blueprints import one_task

NOW = 1_000.0
JOB = "job-1"
POLICY = StepPolicy(dispatch_timeout=60.0, result_timeout=300.0)


def flaky_bp(failures: int, calls: list[int]) -> StateMachineBlueprint:
    """start raises ``failures`` times (counted in ``calls``), then dispatches; done ends."""
    bp = StateMachineBlueprint("flaky")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise RuntimeError("not yet")
        actions.dispatch_task("echo", {}, {"success": "done"})

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    return bp


def new_job(blueprint: str) -> JobState:
    return JobState(
        id=JOB,
        blueprint=blueprint,
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
    )


def copy(state: JobState) -> JobState:
    return decode_state(encode_state(state))


class Tracked:
    """A job driven through ``apply``, remembering every Timeout it deferred (by id) and
    checking the deadline invariant after each step."""

    def __init__(self, bp: StateMachineBlueprint, policy: StepPolicy = POLICY, calls: list[int] | None = None) -> None:
        self.bp, self.policy, self.calls = bp, policy, calls  # ``calls``: restored after each probe
        self.state = new_job(bp.name)
        self.deferred: dict[str, tuple[Timeout, float]] = {}
        self.scheduled: set[str] = set()  # the store's deadline set, for this job

    async def send(self, body: Message, now: float = NOW) -> JobStep:
        step = await apply(self.bp, self.policy, self.state, envelope(JOB, body, now), now)
        for d in step.deadlines:
            assert isinstance(d.envelope.body, Timeout)
            assert (d.route, d.envelope.key) == (routes.JOBS, JOB)
            assert d.at is not None
            self.deferred[d.envelope.id] = (d.envelope.body, d.at)
        assert all(o.at is None for o in step.out), "deadlines never travel in the outbox"
        self.scheduled -= set(step.obsolete)
        self.scheduled |= {d.envelope.id for d in step.deadlines}
        assert self.scheduled == set(self.state.deadlines)
        await self.check()
        return step

    async def fire(self, deadline: str) -> JobStep:
        timeout, at = self.deferred[deadline]
        return await self.send(timeout, now=at)

    async def check(self) -> None:
        for deadline, (timeout, at) in self.deferred.items():
            calls = None if self.calls is None else list(self.calls)
            probe = copy(self.state)
            acted = (await apply(self.bp, self.policy, probe, envelope(JOB, timeout, at, id="probe"), at)).changed
            if self.calls is not None and calls is not None:
                self.calls[:] = calls
            assert acted == (deadline in self.state.deadlines), f"{deadline}: {acted=}, kept {self.state.deadlines}"

    def task_id(self) -> str:
        assert self.state.task is not None
        return self.state.task.id


async def test_a_deferred_timeout_has_an_id_from_job_kind_and_task() -> None:
    job = Tracked(one_task("echo"))

    step = await job.send(Start())

    task = job.task_id()
    [dispatch] = step.deadlines
    assert dispatch.envelope.id == deadline_id(JOB, "dispatch", task) == f"deadline:{JOB}:dispatch:{task}"
    assert dispatch.envelope.body == Timeout("dispatch", task)
    assert dispatch.at == NOW + 60.0
    assert job.state.deadlines == [dispatch.envelope.id]
    assert step.obsolete == []


async def test_the_offer_carries_the_dispatch_deadline_the_job_deferred() -> None:
    """The gateway reads it to announce a pickup near that deadline at once."""
    step = await Tracked(one_task("echo")).send(Start())

    [offer] = [o.envelope.body for o in step.out if isinstance(o.envelope.body, TaskOffer)]
    assert offer.dispatch_deadline == NOW + 60.0
    [dispatch] = step.deadlines
    assert dispatch.at == offer.dispatch_deadline


async def test_pickup_swaps_the_dispatch_deadline_for_the_result_deadline() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    task = job.task_id()

    step = await job.send(TaskStarted(task, "w1", at=NOW + 1), now=NOW + 2)

    assert [d.envelope.id for d in step.deadlines] == [deadline_id(JOB, "result", task)]
    assert step.deadlines[0].at == NOW + 1 + 300.0
    assert step.obsolete == [deadline_id(JOB, "dispatch", task)]
    assert job.state.deadlines == [deadline_id(JOB, "result", task)]


async def test_a_finished_job_keeps_no_deadline_and_removes_the_last_one() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    task = job.task_id()
    await job.send(TaskStarted(task, "w1", at=NOW))

    step = await job.send(TaskDone(task, "w1"))

    assert job.state.status == j.FINISHED
    assert step.deadlines == []
    assert step.obsolete == [deadline_id(JOB, "result", task)]
    assert job.state.deadlines == []
    assert job.scheduled == set()


async def test_cancel_removes_the_deadline_the_job_waited_for() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    task = job.task_id()

    step = await job.send(Cancel())

    assert step.obsolete == [deadline_id(JOB, "dispatch", task)]
    assert job.state.deadlines == []


async def test_a_result_timeout_retries_under_a_new_id_and_each_deadline_follows_the_task() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    first = job.task_id()
    await job.send(TaskStarted(first, "w1", at=NOW))

    retried = await job.fire(deadline_id(JOB, "result", first))

    second = job.task_id()
    assert second != first
    assert [d.envelope.id for d in retried.deadlines] == [deadline_id(JOB, "retry_task", second)]
    assert retried.obsolete == [deadline_id(JOB, "result", first)]  # it fired: removing it is a no-op
    reoffered = await job.fire(deadline_id(JOB, "retry_task", second))
    assert [d.envelope.id for d in reoffered.deadlines] == [deadline_id(JOB, "dispatch", second)]
    assert reoffered.obsolete == [deadline_id(JOB, "retry_task", second)]


async def test_a_retryable_error_and_a_lost_lease_drop_the_result_deadline() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    first = job.task_id()
    await job.send(TaskStarted(first, "w1", at=NOW))

    failed = await job.send(TaskDone(first, "w1", status="failure", error_code=ERROR_CODE_TRANSIENT))

    assert failed.obsolete == [deadline_id(JOB, "result", first)]
    await job.fire(deadline_id(JOB, "retry_task", job.task_id()))
    second = job.task_id()
    await job.send(TaskStarted(second, "w2", at=NOW + 5), now=NOW + 5)
    lost = await job.send(TaskLost(second, "w2"), now=NOW + 70)
    assert lost.obsolete == [deadline_id(JOB, "result", second)]
    assert job.state.deadlines == [deadline_id(JOB, "retry_task", job.task_id())]


async def test_a_step_retry_deadline_names_the_step_and_the_attempt() -> None:
    calls: list[int] = []
    job = Tracked(flaky_bp(failures=2, calls=calls), calls=calls)

    first = await job.send(Start())

    one = deadline_id(JOB, "retry_step", "0.1")
    assert [d.envelope.id for d in first.deadlines] == [one]
    again = await job.fire(one)
    two = deadline_id(JOB, "retry_step", "0.2")
    assert ([d.envelope.id for d in again.deadlines], again.obsolete) == ([two], [one])
    dispatched = await job.fire(two)
    assert dispatched.obsolete == [two]
    assert job.state.deadlines == [deadline_id(JOB, "dispatch", job.task_id())]


async def test_without_timeouts_configured_nothing_is_scheduled_or_kept() -> None:
    job = Tracked(one_task("echo"), StepPolicy(dispatch_timeout=None, result_timeout=None))
    await job.send(Start())
    task = job.task_id()

    picked = await job.send(TaskStarted(task, "w1", at=NOW))

    assert (picked.deadlines, picked.obsolete, job.state.deadlines) == ([], [], [])


async def test_a_stale_timeout_changes_nothing_and_removes_nothing() -> None:
    job = Tracked(one_task("echo"))
    await job.send(Start())
    task = job.task_id()
    await job.send(TaskStarted(task, "w1", at=NOW))

    stale = await job.send(Timeout("dispatch", task), now=NOW + 60)

    assert not stale.changed
    assert job.state.deadlines == [deadline_id(JOB, "result", task)]


def test_awaited_is_the_one_deadline_the_job_waits_for() -> None:
    state = new_job("b")
    assert awaited(state) is None
    state.status, state.step_attempt = j.RUNNING, 2
    assert awaited(state) == Timeout("retry_step", attempt=2)
    state.task = msgspec.convert({"id": "t", "type": "echo", "params": {}, "transitions": {}}, j.TaskState)
    assert awaited(state) == Timeout("dispatch", "t")
    state.task.worker_id = "w"
    assert awaited(state) == Timeout("result", "t")
    state.task.waiting_retry, state.task.worker_id = True, None
    assert awaited(state) == Timeout("retry_task", "t")
    state.status = j.CANCELLED
    assert awaited(state) is None


def test_a_deferral_the_job_does_not_await_is_an_error_not_a_silent_drop() -> None:
    state = new_job("b")
    state.status = j.RUNNING
    stray = Outgoing(routes.JOBS, envelope(JOB, Timeout("result", "t"), NOW, id="deadline:job-1:result:t"), at=NOW)

    with pytest.raises(AssertionError, match="awaits None"):
        settle(state, [stray])
