"""Webhooks at the gateway: the dead list and redelivery, webhook URLs refused at job creation,
and worker events passed to the job and its webhook."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import WorkerEventPayload

from actors.ports.store import WebhookDelivery
from engine.job import FINISHED
from engine.messages import JobEvent, WorkerEvent
from engine.registry import BlueprintRegistry
from engine.routes import EVENTS, JOBS
from engine.webhooks import webhook_id_of
from tests.api.conftest import CLIENT, CLIENT_ID, NOW, Gateway, put_job, sdk_signed, set_status, wire, worker_headers
from tests.api.test_tasks import leased
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

FAILED_LIST = "/api/v1/webhooks/failed"


def dead(delivery_id: str, client_id: str = CLIENT_ID, dead_at: float = NOW - 10) -> WebhookDelivery:
    return WebhookDelivery(
        id=delivery_id,
        url="https://hooks.example/x",
        client_id=client_id,
        job_id="job-1",
        event="job_finished",
        body=b'{"event":"job_finished","job_id":"job-1"}',
        created_at=NOW - 86_400,
        give_up_at=NOW - 1,
        next_at=NOW - 10,
        attempts=31,
        last_attempt_at=dead_at,
        last_error="answered 503",
        dead_at=dead_at,
    )


async def bury(gw: Gateway, delivery: WebhookDelivery) -> None:
    assert await gw.store.add_webhook(delivery)
    [claimed] = await gw.store.claim_webhooks(delivery.next_at, 1, NOW)
    assert await gw.store.bury_webhook(msgspec.structs.replace(claimed, dead_at=delivery.dead_at))


# -- the dead list --------------------------------------------------------------------------------


async def test_the_failed_list_shows_the_callers_dead_deliveries_newest_first(gw: Gateway) -> None:
    await bury(gw, dead("older", dead_at=NOW - 20))
    await bury(gw, dead("newer", dead_at=NOW - 10))
    await bury(gw, dead("not-mine", client_id="someone-else"))

    resp = await gw.http.get(FAILED_LIST, headers=CLIENT)

    assert resp.status == 200
    listed = await resp.json()
    assert [d["webhook_id"] for d in listed] == ["newer", "older"]
    assert listed[0] == {
        "webhook_id": "newer",
        "url": "https://hooks.example/x",
        "event": "job_finished",
        "job_id": "job-1",
        "attempts": 31,
        "created_at": NOW - 86_400,
        "last_attempt_at": NOW - 10,
        "last_error": "answered 503",
        "failed_at": NOW - 10,
        "payload": {"event": "job_finished", "job_id": "job-1"},
    }


async def test_redeliver_makes_a_dead_delivery_due_now_once(gw: Gateway) -> None:
    await bury(gw, dead("d1"))

    resp = await gw.http.post(f"{FAILED_LIST}/d1/redeliver", headers=CLIENT)
    again = await gw.http.post(f"{FAILED_LIST}/d1/redeliver", headers=CLIENT)

    assert (resp.status, await resp.json()) == (202, {"status": "redelivery_scheduled", "webhook_id": "d1"})
    assert again.status == 404
    assert "d1" in (await again.json())["error"]
    assert await (await gw.http.get(FAILED_LIST, headers=CLIENT)).json() == []
    [due] = await gw.store.claim_webhooks(NOW, 10, NOW + 30)
    assert (due.id, due.attempts, due.give_up_at) == ("d1", 0, NOW + gw.settings.webhook_max_age_seconds)


async def test_another_clients_delivery_cannot_be_redelivered(gw: Gateway) -> None:
    await bury(gw, dead("theirs", client_id="someone-else"))

    resp = await gw.http.post(f"{FAILED_LIST}/theirs/redeliver", headers=CLIENT)

    assert resp.status == 404
    assert await gw.store.claim_webhooks(NOW, 10, NOW + 30) == []


@pytest.mark.parametrize("limit", ["0", "abc", "1001"])
async def test_a_bad_limit_is_400(gw: Gateway, limit: str) -> None:
    resp = await gw.http.get(FAILED_LIST, headers=CLIENT, params={"limit": limit})

    assert resp.status == 400
    assert "limit" in (await resp.json())["error"]


async def test_the_failed_list_needs_the_client_token(gw: Gateway) -> None:
    assert (await gw.http.get(FAILED_LIST)).status == 401


# -- webhook URLs at job creation -----------------------------------------------------------------


@pytest.fixture
async def public_only(gw: Gateway) -> AsyncIterator[Gateway]:
    """The gateway as production runs it: ``WEBHOOK_ALLOW_PRIVATE=false``."""
    settings = dataclasses.replace(gw.settings, webhook_allow_private=False)
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    store, broker, clock = MemoryStore(), MemoryBroker(), FakeClock(NOW)
    async with TestClient(TestServer(build_app(GatewayContext(settings, store, broker, registry, clock)))) as http:
        yield Gateway(http, store, broker, clock, settings)
    await broker.close()
    await store.close()


async def create(gw: Gateway, webhook_url: Any) -> Any:
    return await gw.http.post("/api/v1/jobs/tiny", json={"webhook_url": webhook_url}, headers=CLIENT)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/hook", "http://[::1]/hook", "https://10.0.0.7/hook", "http://localhost/hook"],
)
async def test_a_private_webhook_url_is_refused_with_400_naming_it(public_only: Gateway, url: str) -> None:
    resp = await create(public_only, url)

    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error.startswith("webhook_url ")
    assert "WEBHOOK_ALLOW_PRIVATE" in error
    assert public_only.broker.pending(JOBS) == []


async def test_a_public_webhook_url_is_accepted(public_only: Gateway) -> None:
    resp = await create(public_only, "https://93.184.216.34/hook")

    assert resp.status == 202


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/hook"])
async def test_only_http_webhook_urls_are_accepted(gw: Gateway, url: str) -> None:
    resp = await create(gw, url)

    assert resp.status == 400
    assert "webhook_url" in (await resp.json())["error"]


async def test_private_webhook_urls_are_accepted_in_development(gw: Gateway) -> None:
    assert gw.settings.webhook_allow_private
    assert (await create(gw, "http://127.0.0.1:9000/hook")).status == 202


# -- worker events --------------------------------------------------------------------------------


def worker_event(event_type: str, payload: dict[str, Any], **targets: Any) -> WorkerEventPayload:
    event = WorkerEventPayload(
        event_id=str(uuid.uuid4()),
        worker_id="w1",
        origin_worker_id="w1",
        event_type=event_type,
        payload=payload,
        bubbling_chain=[],
        timestamp=int(NOW),
        **targets,
    )
    return sdk_signed(event, "w1", ignore_fields=["bubbling_chain"])


async def send(gw: Gateway, event: WorkerEventPayload) -> None:
    resp = await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(event))
    assert (resp.status, await resp.json()) == (200, {"status": "event_accepted"})


async def with_webhook(gw: Gateway, job_id: str = "j") -> None:
    state = await gw.store.load_job(job_id)
    assert state is not None
    state.webhook_url = "https://hooks.example/x"
    await gw.store.commit_job(state, state.version)


async def test_a_custom_event_goes_to_the_jobs_mailbox_once_per_event_id(gw: Gateway) -> None:
    await leased(gw)
    event = worker_event("preview", {"url": "a.png"}, origin_task_id="t1", target_job_id="j", target_task_id="t1")

    await send(gw, event)

    [env] = gw.published(WorkerEvent)
    assert env.key == "j"
    assert env.id == f"worker-event:{event.event_id}"  # a resent event is applied once
    assert env.body == WorkerEvent(
        event_id=event.event_id,
        event_type="preview",
        worker_id="w1",
        task_id="t1",
        payload={"url": "a.png"},
        timestamp=int(NOW),
    )
    assert gw.broker.pending(EVENTS) == []  # the job announces it, after recording it


async def test_progress_is_announced_to_the_webhook_by_the_gateway(gw: Gateway) -> None:
    await leased(gw)
    await with_webhook(gw)
    event = worker_event("progress", {"progress": 0.5, "message": "half"}, target_job_id="j", target_task_id="t1")

    await send(gw, event)

    assert await gw.store.get_progress("j") == (0.5, "half")
    [env] = gw.broker.pending(EVENTS)
    assert env.id == webhook_id_of(event.event_id)
    assert isinstance(env.body, JobEvent)
    assert (env.body.event, env.body.status, env.body.result) == (
        "worker_event:progress",
        "waiting_for_worker",
        {"progress": 0.5, "message": "half"},
    )
    assert env.body.client_id == CLIENT_ID
    assert gw.published(WorkerEvent) == []  # the job's task does not map progress


async def test_events_for_an_ended_job_are_dropped(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    await with_webhook(gw)
    await set_status(gw, "j", FINISHED)

    await send(gw, worker_event("preview", {}, target_job_id="j", target_task_id="t1"))
    await send(gw, worker_event("progress", {"progress": 1.0}, target_job_id="j", target_task_id="t1"))

    assert gw.published(WorkerEvent) == []
    assert gw.broker.pending(EVENTS) == []
