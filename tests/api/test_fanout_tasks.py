"""The worker API for fan-out branches: live-offer checks against the group, pickups and results
routed to the group's aggregator (not the job), ignored reasons, and heartbeat cancellations."""

from __future__ import annotations

from typing import Any

from rxon.models import Heartbeat, TaskResult

from engine import routes
from engine.group import BranchState, GroupState
from engine.job import CANCELLED, WAITING_FOR_PARALLEL, GroupRef, JobState, TaskState
from engine.messages import Envelope, TaskDone, TaskOffer, TaskStarted
from tests.api.conftest import CLIENT_ID, NOW, Gateway, sdk_signed, set_status, wire, worker_headers
from tests.api.test_tasks import poll, register

JOB, GROUP = "j", "g"


async def fan_out(gw: Gateway, *task_ids: str, job_id: str = JOB, group_id: str = GROUP) -> None:
    """A job waiting on group ``group_id`` whose branches run ``task_ids``, each offered."""
    job = JobState(
        id=job_id,
        blueprint="tiny",
        client_id=CLIENT_ID,
        current_state="gather",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
        status=WAITING_FOR_PARALLEL,
        group=GroupRef(id=group_id, aggregate_into="gather", size=len(task_ids)),
    )
    assert await gw.store.create_job(job)
    branches = [
        BranchState(key=t, index=n, task=TaskState(id=t, type="echo", params={}, transitions={}))
        for n, t in enumerate(task_ids)
    ]
    group = GroupState(id=group_id, job_id=job_id, created_at=NOW, updated_at=NOW, size=len(branches))
    assert await gw.store.create_group(group)
    group.offered = True
    await gw.store.commit_group(group, 1, branches)
    for task_id in task_ids:
        await push(gw, task_id, job_id=job_id, group_id=group_id)


async def push(gw: Gateway, task_id: str, *, job_id: str = JOB, group_id: str | None = GROUP) -> None:
    offer = TaskOffer(job_id=job_id, task_id=task_id, type="echo", params={"n": task_id}, group_id=group_id)
    await gw.store.push_task(offer)


async def settle(gw: Gateway, task_id: str, *, retried_as: str | None = None) -> None:
    """The aggregator settled the branch of ``task_id`` (or retried it under ``retried_as``)."""
    group = await gw.store.load_group(GROUP)
    branch = await gw.store.load_branch(GROUP, task_id)
    assert group is not None
    assert branch is not None
    assert branch.runs(task_id)
    if retried_as is None:
        branch.result = {"status": "success", "data": None, "error": None}
        group.settled += 1
    else:
        branch.task.id = retried_as
    await gw.store.commit_group(group, group.version, [branch])


def to_aggregator(gw: Gateway, kind: type[Any]) -> list[Envelope]:
    return [e for e in gw.broker.pending(routes.AGGREGATOR) if isinstance(e.body, kind)]


def result(task_id: str, worker_id: str = "w1", **fields: Any) -> TaskResult:
    message = TaskResult(job_id=JOB, task_id=task_id, worker_id=worker_id, timestamp=int(NOW), **fields)
    return sdk_signed(message, worker_id)


async def send(gw: Gateway, message: TaskResult, worker_id: str = "w1") -> Any:
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers(worker_id), data=wire(message))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def take(gw: Gateway, worker_id: str = "w1") -> str:
    resp = await poll(gw, worker_id, timeout=1)
    assert resp.status == 200
    return str((await resp.json())["task_id"])


async def test_a_branch_pickup_is_announced_to_the_group_not_the_job(gw: Gateway) -> None:
    await register(gw)
    await fan_out(gw, "b1")

    assert await take(gw) == "b1"

    assert gw.published() == []
    [started] = to_aggregator(gw, TaskStarted)
    assert started.key == GROUP
    assert started.body == TaskStarted(task_id="b1", worker_id="w1", at=NOW)


async def test_poll_skips_branches_that_settled_were_retried_or_belong_to_a_cancelled_job(gw: Gateway) -> None:
    await register(gw)
    await fan_out(gw, "settled", "retried", "live")
    await settle(gw, "settled")
    await settle(gw, "retried", retried_as="retried-2")
    await fan_out(gw, "of-cancelled", job_id="k", group_id="h")
    await set_status(gw, "k", CANCELLED)
    await push(gw, "wrong-group", group_id="not-the-jobs-group")

    assert await take(gw) == "live"
    assert [e.body.task_id for e in to_aggregator(gw, TaskStarted)] == ["live"]  # type: ignore[union-attr]


async def test_a_branch_result_goes_to_the_aggregator_with_an_idempotent_id(gw: Gateway) -> None:
    await register(gw)
    await fan_out(gw, "b1", "b2")
    await take(gw)

    message = result("b1", data={"n": 1})
    assert await send(gw, message) == {"status": "accepted"}
    assert await send(gw, message) == {"status": "accepted"}

    assert gw.published() == []
    first, again = to_aggregator(gw, TaskDone)
    assert first.id == again.id == f"result:{GROUP}:b1"
    assert first.key == GROUP
    assert first.body == TaskDone(task_id="b1", worker_id="w1", data={"n": 1})


async def test_branch_results_are_ignored_with_the_usual_reasons(gw: Gateway) -> None:
    await register(gw)
    await register(gw, "w2")
    await fan_out(gw, "b1", "b2", "b3")
    for _ in range(3):
        await take(gw)
    await settle(gw, "b2")
    await settle(gw, "b3", retried_as="b3-again")

    assert await send(gw, result("b1", "w2"), "w2") == {"status": "ignored", "reason": "worker_mismatch"}
    assert await send(gw, result("b2")) == {"status": "ignored", "reason": "stale_task"}
    assert await send(gw, result("b3")) == {"status": "ignored", "reason": "stale_task"}
    await set_status(gw, JOB, CANCELLED)
    assert await send(gw, result("b1")) == {"status": "ignored", "reason": "job_cancelled"}
    assert to_aggregator(gw, TaskDone) == []


async def beat(gw: Gateway, current_tasks: list[str]) -> Any:
    heartbeat = Heartbeat(worker_id="w1", status="busy", current_tasks=current_tasks, timestamp=int(NOW))
    message = sdk_signed(heartbeat, "w1")
    resp = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1"), data=wire(message))
    assert resp.status == 200
    return await resp.json()


async def test_heartbeat_keeps_live_branches_and_cancels_those_of_a_cancelled_job(gw: Gateway) -> None:
    await register(gw)
    await fan_out(gw, "b1", "b2", "b3")
    for _ in range(3):
        await take(gw)
    await settle(gw, "b3", retried_as="b3-again")

    assert await beat(gw, ["b1", "b2", "b3"]) == {"status": "ok", "cancel_task_ids": ["b3"]}

    await set_status(gw, JOB, CANCELLED)
    assert await beat(gw, ["b1", "b2"]) == {"status": "ok", "cancel_task_ids": ["b1", "b2"]}
