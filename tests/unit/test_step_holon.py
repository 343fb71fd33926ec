"""The step tells the holon when a job a parent orchestrator's task created ends (Pure Holon
mode, ADR 0016): one ``JobEvent`` on the ``holon`` mailbox, naming the parent's task."""

from __future__ import annotations

import pytest

from engine import job as j
from engine import routes
from engine.job import JobState, Outgoing
from engine.messages import JobEvent, ParentTask, Redrive, TaskDone
from tests.unit.test_step import JOB, NOW, OUTCOMES, send, task_bp

PARENT_TASK = ParentTask(task_id="parent-task-1", job_id="parent-job-1")


def holon_job(webhook_url: str | None = None) -> JobState:
    return JobState(
        id=JOB,
        blueprint="any",
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
        parent_task=PARENT_TASK,
        webhook_url=webhook_url,
    )


def ends(out: list[Outgoing]) -> list[Outgoing]:
    return [o for o in out if o.route == routes.HOLON]


@pytest.mark.parametrize("event_name", list(OUTCOMES))
async def test_the_end_of_a_holon_job_goes_to_the_holon_once(event_name: str) -> None:
    drive, status = OUTCOMES[event_name]
    state = holon_job()

    out = await drive(state)

    [sent] = ends(out)
    event = sent.envelope.body
    assert isinstance(event, JobEvent)
    assert (sent.envelope.key, event.job_id, event.status, event.event) == (JOB, JOB, status, event_name)
    assert event.parent_task == PARENT_TASK
    assert event.webhook_url is None
    assert event.result == (state.state_history if status == j.FINISHED else None)
    assert event.error == state.error
    assert [o.route for o in out if isinstance(o.envelope.body, JobEvent)] == [routes.HOLON]  # no webhook


async def test_a_holon_job_with_a_webhook_url_tells_both() -> None:
    drive, _ = OUTCOMES["job_finished"]

    out = await drive(holon_job(webhook_url="http://hook.example/x"))

    assert sorted(o.route for o in out if isinstance(o.envelope.body, JobEvent)) == [routes.EVENTS, routes.HOLON]


@pytest.mark.parametrize("event_name", list(OUTCOMES))
async def test_a_job_no_parent_task_created_tells_the_holon_nothing(event_name: str) -> None:
    drive, _ = OUTCOMES[event_name]
    state = holon_job()
    state.parent_task = None

    assert ends(await drive(state)) == []


async def test_a_redriven_holon_job_that_ends_again_reports_again_under_another_id() -> None:
    drive, _ = OUTCOMES["job_quarantined"]
    state = holon_job()
    [first] = ends(await drive(state))
    state.version += 1  # as the commit does

    again = ends(await send(task_bp(), state, Redrive(requested_by="client:c")))
    assert state.task is not None
    again += ends(await send(task_bp(), state, TaskDone(state.task.id, "w1", error_code="PERMANENT_ERROR")))

    [second] = again
    assert first.envelope.id != second.envelope.id
    assert first.envelope.id.startswith("holon-ended:")
