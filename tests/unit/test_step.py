"""The step function, called directly: (job state, message) -> new state + outgoing effects."""

from __future__ import annotations

from typing import Any

import pytest
from rxon.constants import (
    ERROR_CODE_DEPENDENCY,
    ERROR_CODE_INTERNAL,
    ERROR_CODE_INVALID_INPUT,
    ERROR_CODE_PERMANENT,
    ERROR_CODE_RESOURCE_EXHAUSTED,
    ERROR_CODE_SECURITY,
    ERROR_CODE_TIMEOUT,
    ERROR_CODE_TRANSIENT,
)

from engine import StateMachineBlueprint, routes
from engine import history as h
from engine import job as j
from engine.job import APPLIED_WINDOW, JobState, Outgoing, decode_state, encode_state
from engine.messages import (
    Cancel,
    CancelNotice,
    JobEvent,
    Message,
    Start,
    TaskDone,
    TaskOffer,
    TaskStarted,
    Timeout,
    envelope,
)
from engine.policy import StepPolicy
from engine.step import apply

NOW = 1_000.0
JOB = "job-1"
POLICY = StepPolicy()


# -- helpers ------------------------------------------------------------------------------------


def new_job(bp: StateMachineBlueprint, **fields: Any) -> JobState:
    fields.setdefault("initial_data", {})
    return JobState(
        id=JOB,
        blueprint=bp.name,
        client_id="client-1",
        current_state=bp.start_state,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


async def send(
    bp: StateMachineBlueprint,
    state: JobState,
    body: Message,
    *,
    now: float = NOW,
    policy: StepPolicy = POLICY,
    id: str | None = None,
) -> list[Outgoing]:
    """The step's effects: the immediate ones, then the deadlines it deferred."""
    step = await apply(bp, policy, state, envelope(state.id, body, now, id=id), now)
    return step.out + step.deadlines


def offers(out: list[Outgoing]) -> list[TaskOffer]:
    found = []
    for o in out:
        if isinstance(o.envelope.body, TaskOffer):
            assert o.route == routes.ROUTER
            assert o.at is None
            assert o.envelope.key == o.envelope.body.type
            found.append(o.envelope.body)
    return found


def deferred(out: list[Outgoing]) -> list[tuple[Timeout, float]]:
    found = []
    for o in out:
        if o.at is not None:
            assert o.route == routes.JOBS
            assert o.envelope.key == JOB
            assert isinstance(o.envelope.body, Timeout)
            found.append((o.envelope.body, o.at))
    return found


def events(out: list[Outgoing]) -> list[JobEvent]:
    found = []
    for o in out:
        if o.route == routes.EVENTS:
            assert isinstance(o.envelope.body, JobEvent)
            found.append(o.envelope.body)
    return found


def snapshot(state: JobState) -> JobState:
    """A deep copy without the bookkeeping every message updates (applied ids, updated_at)."""
    copy = decode_state(encode_state(state))
    copy.applied, copy.updated_at = [], 0.0
    return copy


def linear_bp(end: str = "end") -> StateMachineBlueprint:
    """start -> a -> b -> <end>."""
    bp = StateMachineBlueprint("linear")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, state_history: dict[str, Any]) -> None:
        state_history["visited"] = ["start"]
        actions.transition_to("a")

    @bp.handler_for("a")
    async def a(actions: Any, state_history: dict[str, Any]) -> None:
        state_history["visited"].append("a")
        actions.transition_to("b")

    @bp.handler_for("b", transitions=[end])
    async def b(actions: Any, state_history: dict[str, Any]) -> None:
        state_history["visited"].append("b")
        actions.transition_to(end)

    @bp.handler_for(end, is_end=True)
    async def finish(state_history: dict[str, Any]) -> None:
        state_history["visited"].append(end)

    bp.validate()
    return bp


def task_bp(transitions: dict[str, str] | None = None, **dispatch: Any) -> StateMachineBlueprint:
    """start dispatches an ``echo`` task; done / reviewed / cleanup are end states."""
    bp = StateMachineBlueprint("tasks")
    chosen = transitions or {"success": "done"}

    @bp.handler_for("start", is_start=True, transitions=["done", "reviewed", "cleanup"])
    async def start(actions: Any) -> None:
        actions.dispatch_task("echo", {"x": 1}, transitions=chosen, **dispatch)

    @bp.handler_for("done", is_end=True)
    async def done(state_history: dict[str, Any]) -> None:
        state_history["finished_by"] = "done"

    @bp.handler_for("reviewed", is_end=True)
    async def reviewed() -> None:
        pass

    @bp.handler_for("cleanup", is_end=True)
    async def cleanup() -> None:
        pass

    bp.validate()
    return bp


async def dispatched(
    bp: StateMachineBlueprint, policy: StepPolicy = POLICY, **fields: Any
) -> tuple[JobState, TaskOffer, list[Outgoing]]:
    state = new_job(bp, **fields)
    out = await send(bp, state, Start(), policy=policy)
    [offer] = offers(out)
    return state, offer, out


# -- running handlers ---------------------------------------------------------------------------


async def test_chained_transitions_run_in_one_activation() -> None:
    bp = linear_bp()
    state = new_job(bp)

    out = await send(bp, state, Start())

    assert state.status == j.FINISHED
    assert state.current_state == "end"
    assert state.transitions == 3
    assert state.state_history["visited"] == ["start", "a", "b", "end"]
    assert state.finished_at == NOW
    assert out == []


async def test_end_state_finishes_whatever_its_name_with_state_history_as_result() -> None:
    bp = linear_bp(end="done")
    state = new_job(bp, webhook_url="http://hook.example/x")

    out = await send(bp, state, Start())

    assert state.status == j.FINISHED
    assert state.error is None
    [event] = events(out)
    assert event.event == "job_finished"
    assert event.result == {"visited": ["start", "a", "b", "done"]}
    assert event.result == state.state_history


async def test_handler_choosing_no_action_fails_the_job() -> None:
    bp = StateMachineBlueprint("idle")

    @bp.handler_for("start", is_start=True)
    async def start(state_history: dict[str, Any]) -> None:
        state_history["looked"] = True

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp)
    await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'start'" in state.error
    assert "no action" in state.error


async def test_two_actions_fail_the_job_naming_both() -> None:
    bp = StateMachineBlueprint("greedy")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")
        actions.dispatch_task("echo", {}, {"success": "end"})

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp)
    out = await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "transition_to('end')" in state.error
    assert "dispatch_task('echo')" in state.error
    assert offers(out) == []


async def test_missing_injected_argument_fails_at_once_without_retry() -> None:
    bp = StateMachineBlueprint("di")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, nonexistent_key: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp)
    out = await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'nonexistent_key'" in state.error
    assert state.step_attempt == 0
    assert deferred(out) == []


async def test_end_state_choosing_an_action_fails() -> None:
    bp = StateMachineBlueprint("busy_end")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end(actions: Any) -> None:
        actions.transition_to("start")

    state = new_job(bp)
    await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'end'" in state.error


async def test_no_matching_handler_fails_the_job() -> None:
    bp = StateMachineBlueprint("picky")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("work")

    @bp.handler_for("work").when("context.initial_data.kind == 'fast'")
    async def fast(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp, initial_data={"kind": "slow"})
    await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'work'" in state.error


async def test_transition_to_an_unknown_state_at_run_time_fails_naming_it() -> None:
    bp = StateMachineBlueprint("dynamic")

    @bp.handler_for("start", is_start=True, transitions=["end"])
    async def start(actions: Any, initial_data: dict[str, Any]) -> None:
        actions.transition_to(initial_data["next"])

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp, initial_data={"next": "atlantis"})
    await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'atlantis'" in state.error


async def test_max_transitions_cap_fails_the_job() -> None:
    bp = StateMachineBlueprint("loop")

    @bp.handler_for("ping", is_start=True)
    async def ping(actions: Any) -> None:
        actions.transition_to("pong")

    @bp.handler_for("pong")
    async def pong(actions: Any) -> None:
        actions.transition_to("ping")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp, max_transitions=5)
    await send(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "max_transitions (5)" in state.error


async def test_start_runs_a_job_only_once() -> None:
    calls: list[str] = []
    bp = StateMachineBlueprint("once")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        calls.append("start")
        actions.dispatch_task("echo", {}, {"success": "end"})

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp)
    await send(bp, state, Start())
    out = await send(bp, state, Start())

    assert calls == ["start"]
    assert out == []


# -- handler exceptions: retry with back-off, then quarantine -----------------------------------


def flaky_bp(failures: int, calls: list[int]) -> StateMachineBlueprint:
    """The start handler raises ``failures`` times, then moves on to the end state."""
    bp = StateMachineBlueprint("flaky")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, state_history: dict[str, Any]) -> None:
        calls.append(1)
        state_history["half_written"] = True
        if len(calls) <= failures:
            raise RuntimeError("boom")
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    return bp


async def test_handler_exception_defers_a_step_retry_with_backoff() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=1, calls=calls)
    policy = StepPolicy(backoff_base=1.0)
    state = new_job(bp)

    out = await send(bp, state, Start(), policy=policy)

    assert state.status == j.RUNNING
    assert state.step_attempt == 1
    assert state.error is not None
    assert "RuntimeError: boom" in state.error
    assert state.state_history == {}  # the failed attempt's writes are rolled back
    [(timeout, at)] = deferred(out)
    assert timeout.kind == "retry_step"
    assert timeout.attempt == 1
    assert at == NOW + policy.backoff(1, JOB)
    assert NOW + 0.5 <= at < NOW + 1.0


async def test_a_failed_attempt_rolls_back_nested_state_history_writes() -> None:
    bp = StateMachineBlueprint("nested")

    @bp.handler_for("start", is_start=True)
    async def start(state_history: dict[str, Any]) -> None:
        state_history["items"].append("half written")
        raise RuntimeError("boom")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp, state_history={"items": []})

    await send(bp, state, Start())

    assert state.step_attempt == 1
    assert state.state_history == {"items": []}


async def test_step_retry_timeout_runs_the_handler_again() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=1, calls=calls)
    state = new_job(bp)
    [(timeout, at)] = deferred(await send(bp, state, Start()))

    out = await send(bp, state, timeout, now=at)

    assert len(calls) == 2
    assert state.status == j.FINISHED
    assert state.step_attempt == 0
    assert out == []


async def test_step_backoff_grows_with_each_attempt() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=2, calls=calls)
    policy = StepPolicy(backoff_base=1.0)
    state = new_job(bp)
    [(first, first_at)] = deferred(await send(bp, state, Start(), policy=policy))

    [(second, second_at)] = deferred(await send(bp, state, first, now=first_at, policy=policy))

    assert second.attempt == 2
    assert second_at - first_at > first_at - NOW


async def test_handler_failing_past_max_retries_quarantines_the_job() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=100, calls=calls)
    policy = StepPolicy(max_step_retries=2)
    state = new_job(bp)
    out = await send(bp, state, Start(), policy=policy)

    for _ in range(2):
        [(timeout, at)] = deferred(out)
        out = await send(bp, state, timeout, now=at, policy=policy)

    assert len(calls) == 3
    assert state.status == j.QUARANTINED
    assert state.error is not None
    assert "RuntimeError: boom" in state.error
    assert "gave up after 2 retries" in state.error
    assert deferred(out) == []


async def test_stale_step_retry_timeout_is_ignored() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=100, calls=calls)
    state = new_job(bp)
    await send(bp, state, Start())
    before = snapshot(state)

    out = await send(bp, state, Timeout("retry_step", attempt=7))

    assert calls == [1]
    assert snapshot(state) == before
    assert out == []


# -- dispatching tasks --------------------------------------------------------------------------


async def test_dispatch_task_waits_for_a_worker_and_offers_the_task_to_the_router() -> None:
    bp = task_bp()
    state, offer, out = await dispatched(bp)

    assert state.status == j.WAITING_FOR_WORKER
    assert state.current_state == "start"
    assert state.task is not None
    assert offer.job_id == JOB
    assert offer.task_id == state.task.id
    assert offer.type == "echo"
    assert offer.params == {"x": 1}
    assert offer.result_timeout == POLICY.result_timeout
    assert deferred(out) == []  # no dispatch timeout configured anywhere


@pytest.mark.parametrize(
    ("policy_timeout", "job_timeout", "action_kwargs", "expected"),
    [
        (10.0, None, {}, 10.0),
        (10.0, 20.0, {}, 20.0),
        (10.0, 20.0, {"dispatch_timeout": 30.0}, 30.0),
        (None, None, {"dispatch_timeout_seconds": 40.0}, 40.0),
    ],
    ids=["policy", "job-overrides-policy", "action-overrides-all", "upstream-keyword"],
)
async def test_dispatch_timeout_is_deferred_when_one_is_configured(
    policy_timeout: float | None, job_timeout: float | None, action_kwargs: dict[str, Any], expected: float
) -> None:
    bp = task_bp(**action_kwargs)
    policy = StepPolicy(dispatch_timeout=policy_timeout)

    _, offer, out = await dispatched(bp, policy, dispatch_timeout=job_timeout)

    [(timeout, at)] = deferred(out)
    assert timeout.kind == "dispatch"
    assert timeout.task_id == offer.task_id
    assert at == NOW + expected


async def test_task_started_schedules_the_result_timeout_from_pickup_time() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)

    out = await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW + 3), now=NOW + 4)

    assert state.task is not None
    assert state.task.worker_id == "w1"
    [(timeout, at)] = deferred(out)
    assert timeout.kind == "result"
    assert timeout.task_id == offer.task_id
    assert at == NOW + 3 + POLICY.result_timeout  # type: ignore[operator]


async def test_upstream_timeout_seconds_sets_the_result_timeout() -> None:
    bp = task_bp(timeout_seconds=45)
    state, offer, _ = await dispatched(bp)

    out = await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW))

    assert offer.result_timeout == 45
    [(timeout, at)] = deferred(out)
    assert (timeout.kind, at) == ("result", NOW + 45)


async def test_task_started_without_result_timeout_schedules_nothing() -> None:
    bp = task_bp()
    policy = StepPolicy(result_timeout=None)
    state, offer, _ = await dispatched(bp, policy)

    out = await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW), policy=policy)

    assert out == []
    assert state.task is not None
    assert state.task.worker_id == "w1"


async def test_second_pickup_of_a_task_is_ignored() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW))
    before = snapshot(state)

    out = await send(bp, state, TaskStarted(offer.task_id, "w2", at=NOW + 1))

    assert out == []
    assert snapshot(state) == before


# -- task results -------------------------------------------------------------------------------


async def test_a_result_before_its_pickup_completes_the_task_and_records_the_pickup() -> None:
    """TaskStarted is announced without waiting for its confirm: the result may overtake it."""
    bp = task_bp()
    state, offer, _ = await dispatched(bp, dispatch_timeout=30.0)

    step = await apply(bp, POLICY, state, envelope(JOB, TaskDone(offer.task_id, "w1", data={"x": 2}), NOW + 2), NOW + 2)

    assert state.status == j.FINISHED
    assert state.current_state == "done"
    assert [(e.event, e.details.get("worker_id")) for e in step.history[:2]] == [
        (h.TASK_STARTED, "w1"),
        (h.TASK_FINISHED, "w1"),
    ]
    assert step.deadlines == []  # no result deadline: the task is over
    late = await apply(bp, POLICY, state, envelope(JOB, TaskStarted(offer.task_id, "w1", at=NOW + 1), NOW + 3), NOW + 3)
    assert not late.changed


async def test_a_failed_result_before_its_pickup_retries_and_the_late_pickup_is_ignored() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)

    await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT), now=NOW + 2)
    before = snapshot(state)
    out = await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW + 1), now=NOW + 3)

    assert state.task is not None
    assert (state.task.attempt, state.task.worker_id, state.task.waiting_retry) == (2, None, True)
    assert out == []
    assert snapshot(state) == before


async def test_task_done_success_merges_data_and_follows_the_transition() -> None:
    seen: list[Any] = []
    bp = StateMachineBlueprint("merge")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("echo", {"x": 1}, {"success": "done"})

    @bp.handler_for("done", is_end=True)
    async def done(echo: Any) -> None:
        seen.append(echo)

    state, offer, _ = await dispatched(bp)

    out = await send(bp, state, TaskDone(offer.task_id, "w1", data={"echo": {"x": 1}}))

    assert state.status == j.FINISHED
    assert state.current_state == "done"
    assert state.state_history == {"echo": {"x": 1}}
    assert state.task is None
    assert seen == [{"x": 1}]
    assert out == []


async def test_custom_status_follows_its_own_transition() -> None:
    bp = task_bp({"success": "done", "needs_review": "reviewed"})
    state, offer, _ = await dispatched(bp)

    await send(bp, state, TaskDone(offer.task_id, "w1", status="needs_review"))

    assert state.status == j.FINISHED
    assert state.current_state == "reviewed"


async def test_unknown_status_fails_the_job() -> None:
    bp = task_bp({"success": "done"})
    state, offer, _ = await dispatched(bp)

    await send(bp, state, TaskDone(offer.task_id, "w1", status="weird"))

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'weird'" in state.error


async def test_invalid_input_error_fails_the_job_without_a_failure_transition() -> None:
    bp = task_bp({"success": "done"})
    state, offer, _ = await dispatched(bp)

    out = await send(
        bp,
        state,
        TaskDone(
            offer.task_id,
            "w1",
            status="failure",
            error_code=ERROR_CODE_INVALID_INPUT,
            error_message="x must be positive",
        ),
    )

    assert state.status == j.FAILED
    assert state.error is not None
    assert ERROR_CODE_INVALID_INPUT in state.error
    assert "x must be positive" in state.error
    assert out == []


@pytest.mark.parametrize("code", [ERROR_CODE_PERMANENT, ERROR_CODE_SECURITY, ERROR_CODE_DEPENDENCY])
async def test_permanent_errors_quarantine_the_job_without_a_failure_transition(code: str) -> None:
    bp = task_bp({"success": "done"})
    state, offer, _ = await dispatched(bp)

    out = await send(bp, state, TaskDone(offer.task_id, "w1", status="failure", error_code=code))

    assert state.status == j.QUARANTINED
    assert state.error is not None
    assert code in state.error
    assert offers(out) == []
    assert deferred(out) == []


@pytest.mark.parametrize(
    "code", [ERROR_CODE_TRANSIENT, ERROR_CODE_TIMEOUT, ERROR_CODE_RESOURCE_EXHAUSTED, ERROR_CODE_INTERNAL]
)
async def test_transient_error_retries_the_task_under_a_new_id_after_backoff(code: str) -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)

    out = await send(bp, state, TaskDone(offer.task_id, "w1", status="failure", error_code=code))

    assert state.status == j.WAITING_FOR_WORKER
    assert state.task is not None
    assert state.task.attempt == 2
    assert state.task.id != offer.task_id
    assert offers(out) == []  # not re-offered before the back-off elapses
    [(timeout, at)] = deferred(out)
    assert timeout.kind == "retry_task"
    assert timeout.task_id == state.task.id
    assert at == NOW + POLICY.backoff(1, JOB)


async def test_retry_task_timeout_re_offers_the_task_under_its_new_id() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    out = await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT))
    [(timeout, at)] = deferred(out)

    out = await send(bp, state, timeout, now=at)

    [again] = offers(out)
    assert state.task is not None
    assert again.task_id == state.task.id != offer.task_id
    assert again.params == offer.params
    assert state.status == j.WAITING_FOR_WORKER


async def test_result_of_the_previous_attempt_is_ignored_after_a_retry() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT))
    before = snapshot(state)

    out = await send(bp, state, TaskDone(offer.task_id, "w1", data={"late": True}))

    assert out == []
    assert snapshot(state) == before


async def test_exhausted_retries_follow_the_failure_transition_when_present() -> None:
    bp = task_bp({"success": "done", "failure": "cleanup"}, max_attempts=1)
    state, offer, _ = await dispatched(bp)

    await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT))

    assert state.current_state == "cleanup"
    assert state.status == j.FINISHED
    assert state.task is None


async def test_exhausted_retries_without_failure_transition_quarantine() -> None:
    bp = task_bp({"success": "done"}, max_attempts=2)
    state, offer, _ = await dispatched(bp)
    out = await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT))
    [(timeout, at)] = deferred(out)
    [second] = offers(await send(bp, state, timeout, now=at))

    await send(bp, state, TaskDone(second.task_id, "w1", error_code=ERROR_CODE_TRANSIENT), now=at + 1)

    assert state.status == j.QUARANTINED
    assert state.error is not None
    assert "gave up after 2 attempts" in state.error


async def test_task_done_for_another_task_id_changes_nothing() -> None:
    bp = task_bp()
    state, _, _ = await dispatched(bp)
    before = snapshot(state)

    out = await send(bp, state, TaskDone("some-other-task", "w1", data={"x": 2}))

    assert out == []
    assert snapshot(state) == before


async def test_task_done_from_a_worker_the_task_was_not_given_to_changes_nothing() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW))
    before = snapshot(state)

    out = await send(bp, state, TaskDone(offer.task_id, "intruder", data={"x": 2}))

    assert out == []
    assert snapshot(state) == before


# -- time-outs ----------------------------------------------------------------------------------


async def test_dispatch_timeout_before_pickup_fails_the_job_with_a_clear_message() -> None:
    bp = task_bp()
    policy = StepPolicy(dispatch_timeout=30.0)
    state, _, out = await dispatched(bp, policy)
    [(timeout, at)] = deferred(out)

    await send(bp, state, timeout, now=at, policy=policy)

    assert state.status == j.FAILED
    assert state.error == "no worker with skill 'echo' took the task within 30 s"
    assert state.task is None


async def test_dispatch_timeout_after_pickup_is_ignored() -> None:
    bp = task_bp()
    policy = StepPolicy(dispatch_timeout=30.0)
    state, offer, out = await dispatched(bp, policy)
    [(timeout, at)] = deferred(out)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW + 1), policy=policy)
    before = snapshot(state)

    out = await send(bp, state, timeout, now=at, policy=policy)

    assert out == []
    assert snapshot(state) == before


async def test_result_timeout_after_pickup_retries_the_task() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    [(timeout, at)] = deferred(await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW)))

    out = await send(bp, state, timeout, now=at)

    assert state.status == j.WAITING_FOR_WORKER
    assert state.task is not None
    assert state.task.attempt == 2
    assert state.task.worker_id is None
    assert state.error is not None
    assert "w1" in state.error
    assert "no result" in state.error
    [(retry, _)] = deferred(out)
    assert retry.kind == "retry_task"
    assert retry.task_id == state.task.id


@pytest.mark.parametrize(
    "timeout",
    [
        Timeout("result", "some-other-task"),
        Timeout("dispatch", "some-other-task"),
        Timeout("retry_task", "some-other-task"),
    ],
    ids=["result", "dispatch", "retry_task"],
)
async def test_timeouts_for_another_task_are_ignored(timeout: Timeout) -> None:
    bp = task_bp()
    policy = StepPolicy(dispatch_timeout=30.0)
    state, offer, _ = await dispatched(bp, policy)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW), policy=policy)
    before = snapshot(state)

    out = await send(bp, state, timeout, now=NOW + 10_000, policy=policy)

    assert out == []
    assert snapshot(state) == before


async def test_result_timeout_before_pickup_is_ignored() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    before = snapshot(state)

    out = await send(bp, state, Timeout("result", offer.task_id), now=NOW + 10_000)

    assert out == []
    assert snapshot(state) == before


# -- cancel -------------------------------------------------------------------------------------


async def test_cancel_cancels_a_waiting_job_and_later_messages_change_nothing() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)

    await send(bp, state, Cancel(), now=NOW + 1)

    assert state.status == j.CANCELLED
    assert state.error == "cancelled by client"
    assert state.task is None
    assert state.finished_at == NOW + 1
    before = snapshot(state)
    for late in (
        TaskStarted(offer.task_id, "w1", at=NOW + 2),
        TaskDone(offer.task_id, "w1", data={"x": 1}),
        Timeout("result", offer.task_id),
        Start(),
    ):
        assert await send(bp, state, late, now=NOW + 3) == []
    assert snapshot(state) == before


async def test_cancel_before_start_means_no_handler_ever_runs() -> None:
    calls: list[int] = []
    bp = flaky_bp(failures=0, calls=calls)
    state = new_job(bp)

    await send(bp, state, Cancel("not needed"))
    await send(bp, state, Start())

    assert calls == []
    assert state.status == j.CANCELLED
    assert state.error == "not needed"


async def cancelled_step(bp: StateMachineBlueprint, state: JobState) -> list[CancelNotice]:
    """What the cancel step asks its caller to announce (``JobStep.stopped``)."""
    step = await apply(bp, POLICY, state, envelope(state.id, Cancel(), NOW + 5), NOW + 5)
    assert state.status == j.CANCELLED
    return step.stopped


async def test_cancelling_a_started_task_names_its_worker_for_the_announcement() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW + 1))

    assert await cancelled_step(bp, state) == [CancelNotice(JOB, offer.task_id, "w1")]


async def test_cancelling_a_task_whose_pickup_the_job_has_not_heard_of_leaves_the_worker_to_the_lease() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)

    assert await cancelled_step(bp, state) == [CancelNotice(JOB, offer.task_id, None)]


async def test_cancelling_during_a_retry_back_off_announces_nothing() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    await send(bp, state, TaskStarted(offer.task_id, "w1", at=NOW + 1))
    await send(bp, state, TaskDone(offer.task_id, "w1", error_code=ERROR_CODE_TRANSIENT, error_message="x"))
    assert state.task is not None and state.task.waiting_retry

    assert await cancelled_step(bp, state) == []


async def test_a_job_that_fails_or_finishes_announces_no_cancellation() -> None:
    bp = task_bp()
    state, offer, _ = await dispatched(bp)
    failed = await apply(
        bp, POLICY, state, envelope(JOB, TaskDone(offer.task_id, error_code=ERROR_CODE_INVALID_INPUT), NOW), NOW
    )
    assert state.status == j.FAILED
    finished_state, finished_offer, _ = await dispatched(bp)
    finished = await apply(bp, POLICY, finished_state, envelope(JOB, TaskDone(finished_offer.task_id), NOW), NOW)
    assert finished_state.status == j.FINISHED

    assert failed.stopped == finished.stopped == []


# -- webhook events -----------------------------------------------------------------------------


async def _finish(state: JobState) -> list[Outgoing]:
    bp = linear_bp()
    return await send(bp, state, Start())


async def _fail(state: JobState) -> list[Outgoing]:
    bp = task_bp()
    await send(bp, state, Start())
    assert state.task is not None
    return await send(bp, state, TaskDone(state.task.id, "w1", status="weird"))


async def _quarantine(state: JobState) -> list[Outgoing]:
    bp = task_bp()
    await send(bp, state, Start())
    assert state.task is not None
    return await send(bp, state, TaskDone(state.task.id, "w1", error_code=ERROR_CODE_PERMANENT))


async def _cancel(state: JobState) -> list[Outgoing]:
    bp = task_bp()
    await send(bp, state, Start())
    return await send(bp, state, Cancel())


OUTCOMES = {
    "job_finished": (_finish, j.FINISHED),
    "job_failed": (_fail, j.FAILED),
    "job_quarantined": (_quarantine, j.QUARANTINED),
    "job_cancelled": (_cancel, j.CANCELLED),
}


@pytest.mark.parametrize("event_name", list(OUTCOMES))
async def test_terminal_job_with_webhook_url_emits_one_job_event(event_name: str) -> None:
    drive, status = OUTCOMES[event_name]
    state = JobState(
        id=JOB,
        blueprint="any",
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
        webhook_url="http://hook.example/x",
    )

    out = await drive(state)

    assert state.status == status
    [event] = events(out)
    assert [o.envelope.key for o in out if o.route == routes.EVENTS] == [JOB]
    assert event.event == event_name
    assert event.status == status
    assert event.job_id == JOB
    assert event.webhook_url == "http://hook.example/x"
    if status == j.FINISHED:
        assert event.result == state.state_history
        assert event.error is None
    else:
        assert event.result is None
        assert event.error == state.error


@pytest.mark.parametrize("event_name", list(OUTCOMES))
async def test_terminal_job_without_webhook_url_emits_no_event(event_name: str) -> None:
    drive, status = OUTCOMES[event_name]
    state = JobState(
        id=JOB,
        blueprint="any",
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
    )

    out = await drive(state)

    assert state.status == status
    assert events(out) == []


# -- bookkeeping --------------------------------------------------------------------------------


async def test_applied_message_ids_are_remembered() -> None:
    bp = task_bp()
    state = new_job(bp)

    await send(bp, state, Start(), id="m-start", now=NOW + 1)
    assert state.task is not None
    await send(bp, state, TaskStarted(state.task.id, "w1", at=NOW + 2), id="m-started", now=NOW + 2)

    assert state.applied == ["m-start", "m-started"]
    assert state.updated_at == NOW + 2


async def test_a_message_that_changes_nothing_is_not_remembered_and_needs_no_commit() -> None:
    """Stale messages, and any message to a terminal job: the state is untouched, the id
    included, so there is nothing to commit; a redelivery is ignored by the same rules."""
    bp = task_bp()
    state = new_job(bp)
    await send(bp, state, Start(), id="m-start")
    before = encode_state(state)

    stale = await apply(bp, POLICY, state, envelope(JOB, TaskDone("stale", "w1"), NOW + 1, id="m-stale"), NOW + 1)

    assert not stale.changed
    assert (stale.out, stale.deadlines, stale.obsolete) == ([], [], [])
    assert encode_state(state) == before
    await send(bp, state, Cancel(), id="m-cancel", now=NOW + 2)
    ended = encode_state(state)
    for late in (Cancel(), Start(), Timeout("result", "t"), Timeout("retry_step", attempt=1)):
        assert not (await apply(bp, POLICY, state, envelope(JOB, late, NOW + 3), NOW + 3)).changed
    assert encode_state(state) == ended
    assert state.applied == ["m-start", "m-cancel"]


def test_applied_ids_keep_only_the_most_recent_window() -> None:
    state = new_job(linear_bp())

    for i in range(APPLIED_WINDOW + 5):
        state.remember(f"m-{i}")

    assert len(state.applied) == APPLIED_WINDOW
    assert state.applied[0] == "m-5"
    assert state.applied[-1] == f"m-{APPLIED_WINDOW + 4}"


async def test_handlers_see_the_plan_and_params_the_job_was_created_with() -> None:
    bp = StateMachineBlueprint("plans")
    seen: list[tuple[str, str, dict[str, Any]]] = []

    @bp.handler_for("start", is_start=True, is_end=True)
    async def start(client: Any) -> None:
        seen.append((client.id, client.plan, dict(client.params)))

    await send(bp, new_job(bp, client_plan="premium", client_params={"max_size": 10}), Start())

    assert seen == [("client-1", "premium", {"max_size": 10})]


async def test_a_job_without_a_plan_has_the_default_one() -> None:
    bp = StateMachineBlueprint("plain")
    seen: list[tuple[str, dict[str, Any]]] = []

    @bp.handler_for("start", is_start=True, is_end=True)
    async def start(client: Any) -> None:
        seen.append((client.plan, dict(client.params)))

    await send(bp, new_job(bp), Start())

    assert seen == [("default", {})]


# -- the job's policy (policy.allowed_skills) ----------------------------------------------------


async def test_a_dispatch_outside_allowed_skills_fails_the_job_naming_the_skill() -> None:
    bp = task_bp()
    state = new_job(bp, allowed_skills=["resize", "ocr"])
    out = await send(bp, state, Start())
    assert offers(out) == []
    assert state.status == j.FAILED
    assert state.error == "policy.allowed_skills does not allow task type 'echo' (allowed: 'ocr', 'resize')"


async def test_a_dispatch_inside_allowed_skills_is_offered() -> None:
    state, offer, _ = await dispatched(task_bp(), allowed_skills=["echo"])
    assert offer.type == "echo"
    assert state.status == j.WAITING_FOR_WORKER


async def test_an_empty_allowed_skills_allows_no_dispatch() -> None:
    bp = task_bp()
    state = new_job(bp, allowed_skills=[])
    await send(bp, state, Start())
    assert state.status == j.FAILED
    assert state.error is not None and "(allowed: none)" in state.error
