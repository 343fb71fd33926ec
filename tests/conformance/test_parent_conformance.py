"""The parent orchestrator as its holon sees it (Pure Holon mode).

The ``ParentLink`` contract (actors/ports/parent.py), checked on every implementation in
``PARENTS``: the in-memory fake and RXON over HTTP against an avtomat gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rxon.models import SkillInfo, TaskError, TaskResult

from engine.errors import ParentRefused
from tests.conformance.parent_cases import PARENTS, WORKER_ID, Offered, ParentCase

QUICK = 0.05  # seconds a poll waits when nothing is expected to come
SKILLS = [SkillInfo(name="summarize", type="blueprint"), SkillInfo(name="translate", type="blueprint")]


@pytest.fixture(params=sorted(PARENTS))
async def parent(request: pytest.FixtureRequest) -> AsyncIterator[ParentCase]:
    async with PARENTS[request.param]() as case:
        yield case


@pytest.fixture
async def registered(parent: ParentCase) -> ParentCase:
    await parent.link.register(SKILLS)
    return parent


def result(
    offered: Offered, status: str = "success", data: dict[str, str] | None = None, error: TaskError | None = None
) -> TaskResult:
    return TaskResult(
        job_id=offered.job_id, task_id=offered.task_id, worker_id=WORKER_ID, status=status, data=data, error=error
    )


async def test_the_worker_id_is_the_one_given(parent: ParentCase) -> None:
    assert parent.link.worker_id == WORKER_ID


async def test_a_heartbeat_before_registering_is_refused_as_not_found(parent: ParentCase) -> None:
    with pytest.raises(ParentRefused, match="not found"):
        await parent.link.heartbeat("idle", [])


async def test_a_registered_worker_heartbeats(registered: ParentCase) -> None:
    assert await registered.link.heartbeat("idle", []) == []
    assert await registered.link.heartbeat("busy", ["some-task"]) == []


async def test_a_worker_the_parent_forgot_is_refused_until_it_registers_again(registered: ParentCase) -> None:
    await registered.forget()

    with pytest.raises(ParentRefused, match="not found"):
        await registered.link.heartbeat("idle", [])

    await registered.link.register(SKILLS)
    assert await registered.link.heartbeat("idle", []) == []


async def test_no_task_is_none_after_the_wait(registered: ParentCase) -> None:
    assert await registered.link.next_task(["summarize"], QUICK) is None


async def test_a_queued_task_is_handed_out_once_with_its_params(registered: ParentCase) -> None:
    offered = await registered.offer("summarize", {"text": "hello", "n": 2})

    task = await registered.link.next_task(["summarize", "translate"], 5.0)

    assert task is not None
    assert (task.job_id, task.task_id, task.type) == (offered.job_id, offered.task_id, "summarize")
    assert task.params == {"text": "hello", "n": 2}
    assert await registered.link.next_task(["summarize"], QUICK) is None


async def test_only_tasks_of_the_skills_asked_for_are_handed_out(registered: ParentCase) -> None:
    await registered.offer("translate", {})

    assert await registered.link.next_task(["summarize"], QUICK) is None
    task = await registered.link.next_task(["translate"], 5.0)
    assert task is not None and task.type == "translate"


async def test_the_result_of_a_task_handed_out_is_accepted(registered: ParentCase) -> None:
    offered = await registered.offer("summarize", {})
    assert await registered.link.next_task(["summarize"], 5.0) is not None

    assert await registered.link.send_result(result(offered, data={"summary": "hi"})) is True


async def test_a_failure_result_is_accepted_too(registered: ParentCase) -> None:
    offered = await registered.offer("summarize", {})
    assert await registered.link.next_task(["summarize"], 5.0) is not None

    failure = result(offered, status="failure", error=TaskError(code="PERMANENT_ERROR", message="no"))
    assert await registered.link.send_result(failure) is True


async def test_a_cancelled_task_is_named_by_the_heartbeat_and_its_result_ignored(registered: ParentCase) -> None:
    offered = await registered.offer("summarize", {})
    kept = await registered.offer("summarize", {})
    assert await registered.link.next_task(["summarize"], 5.0) is not None
    assert await registered.link.next_task(["summarize"], 5.0) is not None

    await registered.cancel(offered)

    assert await registered.link.heartbeat("busy", [offered.task_id, kept.task_id]) == [offered.task_id]
    assert await registered.link.send_result(result(offered, status="cancelled")) is False


async def test_the_result_of_a_task_the_parent_does_not_know_is_ignored(registered: ParentCase) -> None:
    unknown = Offered(job_id="no-such-job", task_id="no-such-task")

    assert await registered.link.send_result(result(unknown, data={})) is False
