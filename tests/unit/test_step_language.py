"""The step function on the rest of the blueprint language: failure transitions, human approval,
child jobs, redrive, and the history a step records."""

from __future__ import annotations

from typing import Any

from rxon.constants import ERROR_CODE_INVALID_INPUT, ERROR_CODE_PERMANENT, ERROR_CODE_TRANSIENT

from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.messages import (
    Cancel,
    ChildEnded,
    Decision,
    Envelope,
    JobEvent,
    Message,
    Redrive,
    Start,
    StartChild,
    TaskDone,
    TaskStarted,
    Timeout,
    envelope,
)
from engine.policy import StepPolicy
from engine.step import JobStep, apply
from tests.unit.test_step import NOW, POLICY, dispatched, new_job, offers, task_bp


async def step(
    bp: StateMachineBlueprint, state: j.JobState, body: Message, *, now: float = NOW, policy: StepPolicy = POLICY
) -> JobStep:
    return await apply(bp, policy, state, envelope(state.id, body, now), now)


def sent(result: JobStep, kind: type) -> list[Envelope]:
    return [o.envelope for o in result.out if isinstance(o.envelope.body, kind)]


# -- failures the blueprint handles ---------------------------------------------------------------


def handling_bp(seen: list[dict[str, Any]]) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("handling")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("echo", {}, transitions={"success": "done", "failure": "handle"}, max_attempts=2)

    @bp.handler_for("handle")
    async def handle(task_error: dict[str, Any], actions: Any) -> None:
        seen.append(task_error)
        actions.transition_to("done")

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    bp.validate()
    return bp


async def test_a_final_error_follows_the_failure_transition_with_the_error_injected() -> None:
    seen: list[dict[str, Any]] = []
    bp = handling_bp(seen)
    state, offer, _ = await dispatched(bp)

    await step(
        bp, state, TaskDone(offer.task_id, "w1", "failure", error_code=ERROR_CODE_PERMANENT, error_message="gone")
    )

    assert state.status == j.FINISHED
    [error] = seen
    assert error["code"] == ERROR_CODE_PERMANENT
    assert "gone" in error["message"]
    assert (error["task_type"], error["attempts"]) == ("echo", 1)


async def test_an_invalid_input_error_follows_the_failure_transition_too() -> None:
    seen: list[dict[str, Any]] = []
    bp = handling_bp(seen)
    state, offer, _ = await dispatched(bp)

    await step(bp, state, TaskDone(offer.task_id, "w1", "failure", error_code=ERROR_CODE_INVALID_INPUT))

    assert state.status == j.FINISHED
    assert [e["code"] for e in seen] == [ERROR_CODE_INVALID_INPUT]


async def test_exhausted_retries_inject_the_last_error_and_the_attempts() -> None:
    seen: list[dict[str, Any]] = []
    bp = handling_bp(seen)
    state, offer, _ = await dispatched(bp)
    retried = await step(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT))
    [deadline] = retried.deadlines
    assert isinstance(deadline.envelope.body, Timeout) and deadline.at is not None
    [retry] = [e.view() for e in retried.history if e.event == "task_retry_scheduled"]
    assert (retry["at"], retry["retry_at"], retry["attempt"]) == (NOW, deadline.at, 2)
    [second] = offers((await step(bp, state, deadline.envelope.body, now=deadline.at)).out)

    await step(bp, state, TaskDone(second.task_id, "w1", error_code=ERROR_CODE_TRANSIENT), now=deadline.at + 1)

    assert state.status == j.FINISHED
    [error] = seen
    assert (error["code"], error["attempts"]) == (ERROR_CODE_TRANSIENT, 2)
    assert "gave up after 2 attempts" in error["message"]


# -- human approval -------------------------------------------------------------------------------


def approval_bp(timeout: float | None = None, on_timeout: bool = True) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("approval")
    transitions = {"approve": "approved", "reject": "rejected"}
    if on_timeout:
        transitions["timeout"] = "expired"

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.await_human_approval("slack", "ship it?", transitions, timeout=timeout)

    for name in ("approved", "rejected", "expired"):

        @bp.handler_for(name, is_end=True)
        async def end() -> None:
            pass

    return bp


async def test_approval_waits_for_a_human_and_exposes_a_token_to_the_webhook() -> None:
    bp = approval_bp()
    state = new_job(bp, webhook_url="http://hooks.example/x")

    result = await step(bp, state, Start())

    assert state.status == j.WAITING_FOR_HUMAN
    assert state.approval is not None
    assert len(state.approval.token) >= 32
    [event] = [e.body for e in sent(result, JobEvent)]
    assert isinstance(event, JobEvent)
    assert event.event == "job_waiting_for_human"
    assert event.approval is not None
    assert event.approval["token"] == state.approval.token
    assert event.approval["decisions"] == ["approve", "reject", "timeout"]


async def test_a_decision_moves_the_job_along_its_transition_once() -> None:
    bp = approval_bp()
    state = new_job(bp)
    await step(bp, state, Start())
    assert state.approval is not None
    approval_id = state.approval.id

    await step(bp, state, Decision(approval_id, "reject", by="client:c1", at=NOW + 1))
    again = await step(bp, state, Decision(approval_id, "approve", by="client:c1", at=NOW + 2))

    assert (state.status, state.current_state) == (j.FINISHED, "rejected")
    assert not again.changed


async def test_a_decision_not_in_the_transitions_changes_nothing() -> None:
    bp = approval_bp()
    state = new_job(bp)
    await step(bp, state, Start())
    assert state.approval is not None

    result = await step(bp, state, Decision(state.approval.id, "maybe", by="client:c1", at=NOW))

    assert not result.changed
    assert state.status == j.WAITING_FOR_HUMAN


async def test_no_decision_before_the_timeout_takes_the_timeout_transition() -> None:
    bp = approval_bp(timeout=60)
    state = new_job(bp)
    started = await step(bp, state, Start())
    [deadline] = started.deadlines
    assert deadline.at == NOW + 60

    await step(bp, state, deadline.envelope.body, now=NOW + 60)

    assert (state.status, state.current_state) == (j.FINISHED, "expired")


async def test_a_timeout_without_a_timeout_transition_fails_the_job() -> None:
    bp = approval_bp(timeout=5, on_timeout=False)
    state = new_job(bp)
    [deadline] = (await step(bp, state, Start())).deadlines

    await step(bp, state, deadline.envelope.body, now=NOW + 5)

    assert state.status == j.FAILED
    assert state.error is not None and "slack" in state.error


async def test_a_decision_cancels_the_approval_timeout() -> None:
    bp = approval_bp(timeout=60)
    state = new_job(bp)
    [deadline] = (await step(bp, state, Start())).deadlines
    assert state.approval is not None

    decided = await step(bp, state, Decision(state.approval.id, "approve", by="approval_token", at=NOW))
    late = await step(bp, state, deadline.envelope.body, now=NOW + 60)

    assert decided.obsolete == [deadline.envelope.id]
    assert not late.changed
    assert state.current_state == "approved"


# -- child jobs -----------------------------------------------------------------------------------


def parent_bp(seen: list[dict[str, Any]]) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("parent")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.run_blueprint("child", {"n": 1}, transitions={"success": "merge", "failure": "broken"})

    @bp.handler_for("merge", is_end=True)
    async def merge(child_result: dict[str, Any]) -> None:
        seen.append(child_result)

    @bp.handler_for("broken", is_end=True)
    async def broken(child_result: dict[str, Any]) -> None:
        seen.append(child_result)

    return bp


async def test_run_blueprint_starts_a_child_and_waits() -> None:
    bp = parent_bp([])
    state = new_job(bp, depth=2)

    result = await step(bp, state, Start())

    assert state.status == j.WAITING_FOR_CHILD
    [start] = sent(result, StartChild)
    assert state.child is not None and start.key == state.child.id
    assert isinstance(start.body, StartChild)
    assert (start.body.parent_id, start.body.blueprint, start.body.depth) == (state.id, "child", 3)
    assert start.body.initial_data == {"n": 1}
    assert start.body.client_id == state.client_id


async def test_a_child_inherits_its_parents_client_plan_and_params() -> None:
    bp = parent_bp([])
    state = new_job(bp, client_plan="premium", client_params={"tier": 2})

    [start] = sent(await step(bp, state, Start()), StartChild)

    assert isinstance(start.body, StartChild)
    assert (start.body.client_plan, start.body.client_params) == ("premium", {"tier": 2})


async def test_a_child_inherits_its_parents_security_metadata_and_policy() -> None:
    bp = parent_bp([])
    state = new_job(bp, security={"signer_id": "a"}, metadata={"m": 1}, allowed_skills=["echo"])

    [start] = sent(await step(bp, state, Start()), StartChild)

    assert isinstance(start.body, StartChild)
    assert (start.body.security, start.body.metadata, start.body.allowed_skills) == (
        {"signer_id": "a"},
        {"m": 1},
        ["echo"],
    )


async def test_the_parent_resumes_once_with_the_childs_result() -> None:
    seen: list[dict[str, Any]] = []
    bp = parent_bp(seen)
    state = new_job(bp)
    await step(bp, state, Start())
    assert state.child is not None
    child_id = state.child.id

    await step(bp, state, ChildEnded(child_id, j.FINISHED, result={"sum": 3}))
    again = await step(bp, state, ChildEnded(child_id, j.FINISHED, result={"sum": 3}))

    assert (state.status, state.current_state) == (j.FINISHED, "merge")
    assert not again.changed
    [outcome] = seen
    assert (outcome["job_id"], outcome["status"], outcome["result"]) == (child_id, j.FINISHED, {"sum": 3})


async def test_a_child_that_did_not_finish_takes_the_failure_transition() -> None:
    seen: list[dict[str, Any]] = []
    bp = parent_bp(seen)
    state = new_job(bp)
    await step(bp, state, Start())
    assert state.child is not None

    await step(bp, state, ChildEnded(state.child.id, j.QUARANTINED, error="boom"))

    assert state.current_state == "broken"
    assert seen[0]["error"] == "boom"


async def test_too_deep_a_child_fails_the_job() -> None:
    bp = parent_bp([])
    state = new_job(bp, depth=3)

    result = await step(bp, state, Start(), policy=StepPolicy(max_child_depth=3))

    assert state.status == j.FAILED
    assert state.error is not None and "deeper than 3" in state.error
    assert sent(result, StartChild) == []


async def test_cancelling_the_parent_cancels_the_child() -> None:
    bp = parent_bp([])
    state = new_job(bp)
    await step(bp, state, Start())
    assert state.child is not None
    child_id = state.child.id

    result = await step(bp, state, Cancel())

    [cancel] = sent(result, Cancel)
    assert cancel.key == child_id
    assert [o.route for o in result.out if o.envelope is cancel] == [routes.JOBS]


async def test_a_child_reports_its_end_to_its_parent() -> None:
    bp = task_bp()
    state = new_job(bp, parent_id="parent-1")
    await step(bp, state, Start())

    result = await step(bp, state, Cancel(reason="parent job parent-1 cancelled"))

    [ended] = sent(result, ChildEnded)
    assert ended.key == "parent-1"
    assert isinstance(ended.body, ChildEnded)
    assert (ended.body.child_id, ended.body.status) == (state.id, j.CANCELLED)


# -- redrive --------------------------------------------------------------------------------------


async def test_redrive_runs_a_quarantined_job_again_from_where_it_stopped() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await step(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_PERMANENT))
    assert state.status == j.QUARANTINED

    result = await step(bp, state, Redrive(requested_by="client:c1"), now=NOW + 10)

    [again] = offers(result.out)
    assert again.task_id != offer.task_id
    assert (state.status, state.error, state.finished_at) == (j.WAITING_FOR_WORKER, None, None)
    await step(bp, state, TaskDone(again.task_id, "w2"), now=NOW + 11)
    assert state.status == j.FINISHED


async def test_a_cancelled_job_is_never_redriven() -> None:
    bp = task_bp()
    state, _, _ = await dispatched(bp)
    await step(bp, state, Cancel())

    result = await step(bp, state, Redrive(requested_by="client:c1"))

    assert not result.changed
    assert state.status == j.CANCELLED


# -- history --------------------------------------------------------------------------------------


async def test_a_step_records_what_happened_in_order() -> None:
    bp = task_bp()
    state = new_job(bp)
    started = await step(bp, state, Start())
    [offer] = offers(started.out)
    picked = await step(bp, state, TaskStarted(offer.task_id, "w1", NOW + 1), now=NOW + 1)
    done = await step(bp, state, TaskDone(offer.task_id, "w1", data={"x": 1}), now=NOW + 2)

    events = [(e.event, e.state) for e in started.history + picked.history + done.history]
    assert events == [
        ("job_started", "start"),
        ("task_dispatched", "start"),
        ("task_started", "start"),
        ("task_finished", "start"),
        ("state_entered", "done"),
        ("job_ended", "done"),
    ]
    assert picked.history[0].details == {"task_id": offer.task_id, "worker_id": "w1", "attempt": 1}
    assert done.history[-1].details == {"status": j.FINISHED, "error": None}


async def test_an_ignored_message_records_nothing() -> None:
    bp = task_bp()
    state, _, _ = await dispatched(bp)

    result = await step(bp, state, TaskDone("another-task", "w1"))

    assert not result.changed
    assert result.history == []
