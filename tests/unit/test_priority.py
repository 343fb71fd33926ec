"""``dispatch_task(priority=)``: a finite number reaches the task's offer; anything else fails the job."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine import ActionError, ActionFactory, StateMachineBlueprint
from engine import job as j
from engine.actions import DispatchTask
from engine.job import JobState
from engine.messages import Start, TaskOffer, envelope
from engine.policy import StepPolicy
from engine.step import apply

NOW = 1_000.0


def dispatched(priority: Any) -> DispatchTask:
    actions = ActionFactory()
    actions.dispatch_task("echo", {}, {"success": "end"}, priority=priority)
    assert isinstance(actions.chosen, DispatchTask)
    return actions.chosen


@pytest.mark.parametrize(("given", "kept"), [(0, 0.0), (5, 5.0), (-2.5, -2.5), (10**6, 1e6)])
def test_a_finite_priority_is_kept_as_a_float(given: Any, kept: float) -> None:
    assert dispatched(given).priority == kept


@pytest.mark.parametrize(
    ("priority", "message"),
    [
        (math.nan, "priority must be finite, got nan"),
        (math.inf, "priority must be finite, got inf"),
        (-math.inf, "priority must be finite, got -inf"),
        (10**400, "priority must be finite"),  # an int no float can hold
        ("5", "priority must be a number, got '5'"),
        (None, "priority must be a number, got None"),
        (True, "priority must be a number, got True"),
    ],
)
def test_a_non_finite_or_non_numeric_priority_is_an_action_error(priority: Any, message: str) -> None:
    with pytest.raises(ActionError, match=f"^dispatch_task: {message}"):
        dispatched(priority)


def priority_from_input() -> StateMachineBlueprint:
    bp = StateMachineBlueprint("prioritised")

    @bp.handler_for("start", is_start=True)
    async def start(initial_data: dict[str, Any], actions: Any) -> None:
        actions.dispatch_task("echo", {}, {"success": "end"}, priority=initial_data["priority"])

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    return bp


async def start_job(priority: Any) -> tuple[JobState, list[TaskOffer]]:
    bp = priority_from_input()
    state = JobState(
        id="job-1",
        blueprint=bp.name,
        client_id="client-1",
        current_state=bp.start_state,
        initial_data={"priority": priority},
        created_at=NOW,
        updated_at=NOW,
    )
    step = await apply(bp, StepPolicy(), state, envelope(state.id, Start(), NOW), NOW)
    return state, [o.envelope.body for o in step.out if isinstance(o.envelope.body, TaskOffer)]


async def test_the_priority_reaches_the_offer() -> None:
    state, offers = await start_job(3)

    assert state.status != j.FAILED
    assert [o.priority for o in offers] == [3.0]


async def test_a_nan_priority_fails_the_job_with_the_reason_and_queues_nothing() -> None:
    state, offers = await start_job(math.nan)

    assert state.status == j.FAILED
    assert state.error is not None and "dispatch_task: priority must be finite, got nan" in state.error
    assert offers == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dispatch_timeout": math.nan}, "dispatch_timeout must be finite"),
        ({"dispatch_timeout_seconds": 0}, "dispatch_timeout must be positive"),
        ({"result_timeout": "60"}, "result_timeout must be a number"),
        ({"timeout_seconds": -1}, "result_timeout must be positive"),
        ({"max_attempts": 0}, "max_attempts must be a positive integer"),
        ({"max_attempts": 2.5}, "max_attempts must be a positive integer"),
    ],
)
def test_dispatch_task_checks_its_timeouts_and_attempts(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ActionError, match=f"^dispatch_task: {message}"):
        ActionFactory().dispatch_task("echo", {}, {"success": "end"}, **options)


def test_dispatch_task_keeps_valid_timeouts_and_attempts() -> None:
    actions = ActionFactory()
    options: dict[str, Any] = {"dispatch_timeout_seconds": 2, "timeout_seconds": 30, "max_attempts": 4}
    actions.dispatch_task("echo", {}, {"success": "end"}, **options)
    chosen = actions.chosen
    assert isinstance(chosen, DispatchTask)
    assert (chosen.dispatch_timeout, chosen.result_timeout, chosen.max_attempts) == (2.0, 30.0, 4)
