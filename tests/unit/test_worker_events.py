"""Worker events in the step function: recorded in the history, announced to the webhook, and
``dispatch_task(event_transitions=)`` moving the job, as upstream does."""

from __future__ import annotations

from typing import Any

import pytest

from engine import ActionError, ActionFactory, StateMachineBlueprint
from engine import history as h
from engine import job as j
from engine.graph import build_graph
from engine.job import JobState
from engine.messages import CancelNotice, Start, TaskDone, TaskStarted, WorkerEvent, envelope
from engine.step import apply
from engine.webhooks import webhook_id_of
from tests.unit.test_step import JOB, NOW, POLICY, events, new_job, send

HOOK = "https://hooks.example/jobs"


def preview_bp() -> StateMachineBlueprint:
    """start dispatches ``render``; its ``preview`` event (or its success) moves the job on."""
    bp = StateMachineBlueprint("preview")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task(
            "render", {}, {"success": "rendered"}, event_transitions={"preview": "previewed", "progress": "halfway"}
        )

    @bp.handler_for("previewed", is_end=True)
    async def previewed() -> None:
        pass

    @bp.handler_for("halfway", is_end=True)
    async def halfway() -> None:
        pass

    @bp.handler_for("rendered", is_end=True)
    async def rendered() -> None:
        pass

    return bp


async def waiting(bp: StateMachineBlueprint, **fields: Any) -> JobState:
    """A job waiting on its ``render`` task, taken by worker ``w1``."""
    state = new_job(bp, **fields)
    await send(bp, state, Start())
    assert state.task is not None
    await send(bp, state, TaskStarted(state.task.id, "w1", at=NOW))
    return state


def event(task_id: str | None, event_type: str = "preview", worker_id: str = "w1", **payload: Any) -> WorkerEvent:
    return WorkerEvent(
        event_id="e-1", event_type=event_type, worker_id=worker_id, task_id=task_id, payload=payload, timestamp=7
    )


async def test_a_mapped_event_supersedes_the_task_and_moves_the_job() -> None:
    bp = preview_bp()
    state = await waiting(bp, webhook_url=HOOK)
    assert state.task is not None
    task_id = state.task.id

    step = await apply(bp, POLICY, state, envelope(JOB, event(task_id, url="a.png"), NOW), NOW)

    assert (state.status, state.current_state) == (j.FINISHED, "previewed")
    assert state.state_history == {"url": "a.png"}
    assert step.stopped == [CancelNotice(JOB, task_id, "w1")]  # its worker is told to stop
    recorded = [e for e in step.history if e.event == h.WORKER_EVENT]
    assert [(e.state, e.details["event_type"], e.details["moved_to"]) for e in recorded] == [
        ("start", "preview", "previewed")
    ]
    assert recorded[0].details["payload"] == {"url": "a.png"}
    hooks = events(step.out)
    assert [e.event for e in hooks] == ["worker_event:preview", "job_finished"]
    assert hooks[0].result == {"url": "a.png"}
    assert hooks[0].status == j.WAITING_FOR_WORKER  # the job's status when the event came
    assert hooks[0].details == {"worker_id": "w1", "task_id": task_id, "timestamp": 7}
    assert hooks[0].client_id == "client-1"


async def test_the_superseded_task_result_is_refused() -> None:
    bp = preview_bp()
    state = await waiting(bp)
    assert state.task is not None
    task_id = state.task.id
    await send(bp, state, event(task_id))

    late = await apply(bp, POLICY, state, envelope(JOB, TaskDone(task_id, "w1"), NOW), NOW)

    assert not late.changed
    assert state.current_state == "previewed"


async def test_an_unmapped_event_is_recorded_and_moves_nothing() -> None:
    bp = preview_bp()
    state = await waiting(bp, webhook_url=HOOK)
    assert state.task is not None

    step = await apply(bp, POLICY, state, envelope(JOB, event(state.task.id, "log_line", line=3), NOW), NOW)

    assert step.changed
    assert (state.status, state.current_state) == (j.WAITING_FOR_WORKER, "start")
    [recorded] = step.history
    assert (recorded.event, recorded.details["event_type"], recorded.details["moved_to"]) == (
        h.WORKER_EVENT,
        "log_line",
        None,
    )
    assert [e.event for e in events(step.out)] == ["worker_event:log_line"]


@pytest.mark.parametrize(
    ("task_id", "worker_id", "why"),
    [("an-earlier-attempt", "w1", "another task"), (None, "w2", "another worker than the one that took it")],
)
async def test_a_mapped_event_about_something_else_moves_nothing(task_id: str | None, worker_id: str, why: str) -> None:
    bp = preview_bp()
    state = await waiting(bp)

    step = await apply(bp, POLICY, state, envelope(JOB, event(task_id, worker_id=worker_id), NOW), NOW)

    assert state.current_state == "start", why
    assert [e.details["moved_to"] for e in step.history] == [None]


async def test_an_event_naming_no_task_is_about_the_current_one() -> None:
    bp = preview_bp()
    state = await waiting(bp)

    await send(bp, state, event(None))

    assert state.current_state == "previewed"


async def test_progress_moves_the_job_only_when_mapped() -> None:
    bp = preview_bp()
    state = await waiting(bp, webhook_url=HOOK)
    assert state.task is not None
    unmapped = StateMachineBlueprint("unmapped")

    @unmapped.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("render", {}, {"success": "done"})

    @unmapped.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    other = await waiting(unmapped)
    ignored = await apply(unmapped, POLICY, other, envelope(JOB, event(None, "progress", progress=0.5), NOW), NOW)
    moved = await apply(bp, POLICY, state, envelope(JOB, event(state.task.id, "progress", progress=0.5), NOW), NOW)

    assert not ignored.changed  # the gateway stored and announced it already
    assert state.current_state == "halfway"
    assert [e.event for e in events(moved.out)] == ["job_finished"]  # no second worker_event:progress


async def test_an_event_for_an_ended_job_changes_nothing() -> None:
    bp = preview_bp()
    state = await waiting(bp)
    assert state.task is not None
    await send(bp, state, TaskDone(state.task.id, "w1"))

    step = await apply(bp, POLICY, state, envelope(JOB, event(None, "log_line"), NOW), NOW)

    assert not step.changed


async def test_the_worker_event_webhook_id_is_derived_from_the_event_id() -> None:
    bp = preview_bp()
    state = await waiting(bp, webhook_url=HOOK)

    step = await apply(bp, POLICY, state, envelope(JOB, event(None, "log_line"), NOW), NOW)

    [hook] = [o.envelope for o in step.out if o.envelope.body == events(step.out)[0]]
    assert hook.id == webhook_id_of("e-1")
    assert webhook_id_of("e-1") != webhook_id_of("e-2")
    assert hook.id.isalnum()


@pytest.mark.parametrize(
    "bad", [{"preview": ""}, {"": "next"}, {"preview": 3}, ["preview"]], ids=["no state", "no type", "int", "list"]
)
def test_bad_event_transitions_are_an_action_error(bad: Any) -> None:
    with pytest.raises(ActionError, match="event_transitions"):
        ActionFactory().dispatch_task("render", {}, {"success": "done"}, event_transitions=bad)


def test_event_transitions_are_edges_of_the_graph() -> None:
    graph = build_graph(preview_bp())

    assert {(e.source, e.target, e.label) for e in graph.edges} == {
        ("start", "rendered", "success"),
        ("start", "previewed", "event: preview"),
        ("start", "halfway", "event: progress"),
    }
    assert not graph.unreachable()
