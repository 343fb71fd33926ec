"""RXON task delivery (long-poll), results and progress events."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import TaskError, TaskPayload, TaskResult, WorkerEventPayload, WorkerRegistration
from rxon.security import verify_signature
from rxon.utils import from_dict

from engine.errors import BrokerUnavailable
from engine.job import CANCELLED, FINISHED
from engine.messages import Envelope, TaskDone, TaskOffer, TaskStarted
from engine.registry import BlueprintRegistry
from engine.routes import JOBS
from tests.api.conftest import (
    CLIENT,
    NOW,
    Gateway,
    put_job,
    sdk_signed,
    set_status,
    wire,
    worker_headers,
)
from tests.blueprints import tiny_blueprint
from transport.gateway import GatewayContext, build_app
from transport.gateway.announcer import ANNOUNCER
from transport.memory import MemoryBroker


async def register(gw: Gateway, worker_id: str = "w1") -> None:
    body = wire(WorkerRegistration(worker_id=worker_id, supported_skills=[], available_skills=["echo"]))
    resp = await gw.http.post("/_worker/workers/register", headers=worker_headers(worker_id), data=body)
    assert resp.status == 200


async def offer(gw: Gateway, job_id: str, task_id: str, **fields: Any) -> None:
    await gw.store.push_task(TaskOffer(job_id=job_id, task_id=task_id, type="echo", params={"text": "hi"}, **fields))


async def poll(gw: Gateway, worker_id: str = "w1", timeout: float = 0.2, skills: str = "echo") -> Any:
    """Poll once; its pickup's announcement (if any) is published by the time this returns."""
    query = {"timeout": str(timeout), "available_skills": skills}
    path = f"/_worker/workers/{worker_id}/tasks/next"
    resp = await gw.http.get(path, headers=worker_headers(worker_id), params=query)
    await gw.announced()
    return resp


async def leased(gw: Gateway, job_id: str = "j", task_id: str = "t1", worker_id: str = "w1") -> None:
    """A job waiting on ``task_id``, which ``worker_id`` has taken by polling."""
    await register(gw, worker_id)
    await put_job(gw, job_id=job_id, task_id=task_id)
    await offer(gw, job_id, task_id)
    assert (await poll(gw, worker_id)).status == 200


def result(job_id: str = "j", task_id: str = "t1", worker_id: str = "w1", **fields: Any) -> TaskResult:
    message = TaskResult(job_id=job_id, task_id=task_id, worker_id=worker_id, timestamp=int(NOW), **fields)
    return sdk_signed(message, worker_id)


async def send(gw: Gateway, message: TaskResult, worker_id: str = "w1") -> Any:
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers(worker_id), data=wire(message))
    assert resp.status == 200, await resp.text()
    return await resp.json()


# -- poll ------------------------------------------------------------------------------------


async def test_poll_with_nothing_queued_is_204_within_the_requested_timeout(gw: Gateway) -> None:
    await register(gw)
    started = time.monotonic()
    resp = await poll(gw, timeout=0.2)
    elapsed = time.monotonic() - started
    assert resp.status == 204
    assert await resp.read() == b""
    assert elapsed < gw.settings.worker_poll_timeout_seconds / 10
    assert resp.headers["X-RXON-Version"]


async def test_poll_by_unknown_worker_is_404(gw: Gateway) -> None:
    resp = await poll(gw, "ghost")
    assert resp.status == 404
    assert "not found" in (await resp.json())["error"]


async def test_poll_with_bad_timeout_is_400(gw: Gateway) -> None:
    await register(gw)
    for bad in ("soon", "-1", "nan"):
        resp = await gw.http.get(
            "/_worker/workers/w1/tasks/next", headers=worker_headers("w1"), params={"timeout": bad}
        )
        assert resp.status == 400
        assert "timeout" in (await resp.json())["error"]


async def test_poll_returns_a_signed_task_and_publishes_task_started(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, job_id="j", task_id="t1")
    await offer(gw, "j", "t1", priority=2.0, step=3, result_timeout=60.0)

    resp = await poll(gw)
    assert resp.status == 200
    body = await resp.json()
    payload = from_dict(TaskPayload, body)
    assert (payload.job_id, payload.task_id, payload.type, payload.params) == ("j", "t1", "echo", {"text": "hi"})
    assert (payload.priority, payload.step) == (2.0, 3)
    assert (payload.timestamp, payload.deadline) == (int(NOW), int(NOW) + 60)
    assert verify_signature(
        payload, body["sig"], "orchestrator-secret", ignore_fields=["sig", "orchestrator_signature"]
    )

    [started] = gw.published(TaskStarted)
    assert started.key == "j"
    assert started.body == TaskStarted(task_id="t1", worker_id="w1", at=NOW)
    lease = await gw.store.get_lease("t1")
    assert lease is not None and lease.worker_id == "w1"


async def test_poll_skips_stale_offers(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, job_id="gone-on", task_id="t-new")  # moved on to another task
    await put_job(gw, job_id="over", task_id="t-over", status=FINISHED)
    await put_job(gw, job_id="live", task_id="t-live")
    await offer(gw, "gone-on", "t-old")
    await offer(gw, "missing", "t-missing")
    await offer(gw, "over", "t-over")
    await offer(gw, "live", "t-live")

    resp = await poll(gw, timeout=5)
    assert resp.status == 200
    assert (await resp.json())["task_id"] == "t-live"
    assert [e.body.task_id for e in gw.published() if isinstance(e.body, TaskStarted)] == ["t-live"]


async def test_poll_only_takes_the_skills_it_asks_for(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, job_id="j", task_id="t1")
    await offer(gw, "j", "t1")
    assert (await poll(gw, skills="other")).status == 204
    assert (await poll(gw, skills="echo")).status == 200


# -- results ---------------------------------------------------------------------------------


async def test_result_is_accepted_and_published_as_task_done(gw: Gateway) -> None:
    await leased(gw)
    answer = await send(gw, result(data={"echo": "hi"}))
    assert answer == {"status": "accepted"}
    [done] = gw.published(TaskDone)
    assert done.key == "j"
    assert done.id == "result:j:t1"
    assert done.body == TaskDone(task_id="t1", worker_id="w1", status="success", data={"echo": "hi"})


async def test_failure_result_carries_the_error(gw: Gateway) -> None:
    await leased(gw)
    await send(gw, result(status="failure", error=TaskError(code="TRANSIENT_ERROR", message="boom")))
    [done] = gw.published(TaskDone)
    assert isinstance(done.body, TaskDone)
    assert (done.body.status, done.body.error_code, done.body.error_message) == ("failure", "TRANSIENT_ERROR", "boom")


async def test_identical_resend_is_accepted_with_the_same_envelope_id(gw: Gateway) -> None:
    await leased(gw)
    message = result(data={"n": 1})
    assert await send(gw, message) == {"status": "accepted"}
    assert await send(gw, message) == {"status": "accepted"}
    first, second = gw.published(TaskDone)
    assert first.id == second.id == "result:j:t1"


async def test_result_for_cancelled_job_is_ignored(gw: Gateway) -> None:
    await leased(gw)
    await set_status(gw, "j", CANCELLED)
    assert await send(gw, result()) == {"status": "ignored", "reason": "job_cancelled"}
    assert gw.published(TaskDone) == []


async def test_result_ignored_reasons(gw: Gateway) -> None:
    await leased(gw)
    await register(gw, "w2")
    assert await send(gw, result(job_id="nope")) == {"status": "ignored", "reason": "job_not_found"}
    assert await send(gw, result(worker_id="w2"), "w2") == {"status": "ignored", "reason": "worker_mismatch"}
    assert await send(gw, result(task_id="t0")) == {"status": "ignored", "reason": "stale_task"}
    await set_status(gw, "j", FINISHED)
    assert await send(gw, result()) == {"status": "ignored", "reason": "job_already_terminated"}
    assert gw.published(TaskDone) == []


async def test_result_with_bad_signature_is_403(gw: Gateway) -> None:
    await leased(gw)
    forged = msgspec.structs.replace(result(data={"n": 1}), data={"n": 2})
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers("w1"), data=wire(forged))
    assert resp.status == 403
    assert "signature" in (await resp.json())["error"]
    assert gw.published(TaskDone) == []


async def test_result_from_another_worker_than_the_header_is_403(gw: Gateway) -> None:
    await leased(gw)
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers("w2"), data=wire(result()))
    assert resp.status == 403


async def test_result_with_wrong_worker_token_is_401(gw: Gateway) -> None:
    await leased(gw)
    headers = worker_headers("w1", token="bad")
    resp = await gw.http.post("/_worker/tasks/result", headers=headers, data=wire(result()))
    assert resp.status == 401
    assert gw.published(TaskDone) == []


async def test_result_that_does_not_decode_is_400(gw: Gateway) -> None:
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers("w1"), json={"job_id": "j"})
    assert resp.status == 400
    assert "task_id" in (await resp.json())["error"]


# -- events ----------------------------------------------------------------------------------


def progress_event(progress: float, message: str, **targets: Any) -> WorkerEventPayload:
    """A progress event as the SDK's ``send_progress`` builds and signs it."""
    event = WorkerEventPayload(
        event_id=str(uuid.uuid4()),
        worker_id="w1",
        origin_worker_id="w1",
        event_type="progress",
        payload={"progress": progress, "message": message},
        bubbling_chain=[],
        trace_context={},
        timestamp=int(NOW),
        **targets,
    )
    return sdk_signed(event, "w1", ignore_fields=["bubbling_chain"])


async def test_progress_event_is_visible_on_the_job(gw: Gateway) -> None:
    await leased(gw)
    event = progress_event(0.5, "half way", origin_task_id="t1", target_job_id="j", target_task_id="t1")
    resp = await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(event))
    assert resp.status == 200
    assert await resp.json() == {"status": "event_accepted"}
    view = await (await gw.http.get("/api/v1/jobs/j", headers=CLIENT)).json()
    assert (view["progress"], view["progress_message"]) == (0.5, "half way")


async def test_progress_event_found_through_the_task_lease(gw: Gateway) -> None:
    await leased(gw)
    event = progress_event(1.0, "done", origin_task_id="t1")
    assert (await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(event))).status == 200
    assert await gw.store.get_progress("j") == (1.0, "done")


async def test_progress_for_a_stale_task_is_dropped(gw: Gateway) -> None:
    await leased(gw)
    event = progress_event(0.9, "late", target_job_id="j", target_task_id="t0")
    assert (await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(event))).status == 200
    assert await gw.store.get_progress("j") is None


async def test_event_with_bad_signature_is_403(gw: Gateway) -> None:
    await leased(gw)
    event = progress_event(0.5, "x", target_job_id="j")
    forged = msgspec.structs.replace(event, payload={"progress": 0.9, "message": "x"})
    resp = await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(forged))
    assert resp.status == 403
    assert await gw.store.get_progress("j") is None


class StartNotAnnounced(MemoryBroker):
    """A broker that cannot take the first TaskStarted (RabbitMQ unreachable at that moment)."""

    failed = False

    async def publish(self, route: str, env: Envelope) -> None:
        if isinstance(env.body, TaskStarted) and not self.failed:
            self.failed = True
            raise BrokerUnavailable("broker unreachable")
        await super().publish(route, env)


async def test_a_task_whose_start_cannot_be_announced_at_once_is_handed_out_and_announced_later(
    gw: Gateway,
) -> None:
    """The lease records the pickup: the poll does not wait for the announcement, which is tried
    again in the background until the broker takes it."""
    broker = StartNotAnnounced()
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    app = build_app(GatewayContext(gw.settings, gw.store, broker, registry, gw.clock))
    async with TestClient(TestServer(app)) as http:
        gw = replace(gw, http=http, broker=broker)
        await register(gw)
        await put_job(gw, job_id="j", task_id="t1")
        await offer(gw, "j", "t1")

        first = await poll(gw)
        assert first.status == 200
        assert (await first.json())["task_id"] == "t1"
        lease = await gw.store.get_lease("t1")
        assert lease is not None
        assert lease.worker_id == "w1"
        await app[ANNOUNCER].drain()
    assert broker.failed
    [started] = [e.body for e in broker.pending(JOBS) if isinstance(e.body, TaskStarted)]
    assert started == TaskStarted(task_id="t1", worker_id="w1", at=NOW)
