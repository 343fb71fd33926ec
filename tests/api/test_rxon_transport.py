"""The gateway as rxon's own HTTP client sees it: the wire format the SDK uses, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rxon.exceptions import RxonProtocolError
from rxon.models import Heartbeat, SkillInfo, TaskResult, WorkerEventPayload, WorkerRegistration
from rxon.security import verify_signature
from rxon.transports.http import HttpTransport

from engine.messages import TaskDone, TaskOffer, TaskStarted
from tests.api.conftest import NOW, WORKER_TOKEN, Gateway, put_job, sdk_signed


@pytest.fixture
async def transport(gw: Gateway) -> AsyncIterator[HttpTransport]:
    t = HttpTransport(str(gw.http.make_url("")), "w1", WORKER_TOKEN)
    await t.connect()
    yield t
    await t.close()


async def test_sdk_transport_round_trip(gw: Gateway, transport: HttpTransport) -> None:
    reg = WorkerRegistration(worker_id="w1", supported_skills=[SkillInfo(name="echo")], timestamp=int(NOW))
    assert (await transport.register(sdk_signed(reg, "w1")))["status"] == "registered"

    beat = Heartbeat(worker_id="w1", status="idle", current_tasks=[], timestamp=int(NOW))
    assert await transport.send_heartbeat(sdk_signed(beat, "w1")) == {"status": "ok"}

    assert await transport.poll_task(timeout=0.1, available_skills=["echo"]) is None

    await put_job(gw, job_id="j", task_id="t1")
    await gw.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={"n": 1.0, "none": None}))
    task = await transport.poll_task(timeout=1, available_skills=["echo"])
    assert task is not None and task.sig is not None
    assert verify_signature(task, task.sig, "orchestrator-secret", ignore_fields=["sig", "orchestrator_signature"])
    await gw.announced()
    assert [e.body for e in gw.published(TaskStarted)] == [TaskStarted("t1", "w1", NOW)]

    event = WorkerEventPayload(
        event_id="e1",
        worker_id="w1",
        origin_worker_id="w1",
        event_type="progress",
        payload={"progress": 0.5, "message": "half"},
        origin_task_id="t1",
        target_job_id="j",
        target_task_id="t1",
        bubbling_chain=[],
        timestamp=int(NOW),
    )
    assert await transport.emit_event(sdk_signed(event, "w1", ignore_fields=["bubbling_chain"]))
    assert await gw.store.get_progress("j") == (0.5, "half")

    res = TaskResult(job_id="j", task_id="t1", worker_id="w1", data={"ok": True}, timestamp=int(NOW))
    assert await transport.send_result(sdk_signed(res, "w1"), max_retries=1) is True
    [done] = gw.published(TaskDone)
    assert done.body == TaskDone("t1", "w1", "success", {"ok": True})


async def test_sdk_transport_sees_unknown_worker_as_not_found(gw: Gateway, transport: HttpTransport) -> None:
    """The SDK re-registers when a heartbeat error contains "not found"."""
    with pytest.raises(RxonProtocolError, match="not found"):
        await transport.send_heartbeat(Heartbeat(worker_id="w1", status="idle"))
