"""The client API: creating, reading and cancelling jobs, listing workers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.errors import BrokerUnavailable
from engine.job import CANCELLED, FAILED, FINISHED, PENDING, RUNNING
from engine.messages import Cancel, Envelope, Start
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, CLIENT_ID, NOW, Gateway, put_job
from tests.blueprints import tiny_blueprint
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

JOB_ROUTE = "/api/v1/jobs/tiny"


async def create(gw: Gateway, body: dict[str, Any]) -> str:
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT, json=body)
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert answer["status"] == "accepted"
    return str(answer["job_id"])


# -- create ------------------------------------------------------------------------------------


async def test_create_stores_the_job_and_publishes_start(gw: Gateway) -> None:
    job_id = await create(gw, {"initial_data": {"name": "Ada"}, "unknown_key": 1})

    state = await gw.store.load_job(job_id)
    assert state is not None
    assert (state.blueprint, state.current_state, state.status) == ("tiny", "start", PENDING)
    assert state.initial_data == {"name": "Ada"}
    assert state.client_id == CLIENT_ID
    assert state.created_at == state.updated_at == NOW
    assert state.max_transitions == gw.settings.max_transitions_per_job
    [start] = gw.published()
    assert isinstance(start.body, Start)
    assert start.key == job_id


async def test_create_keeps_the_optional_fields(gw: Gateway) -> None:
    job_id = await create(
        gw,
        {
            "webhook_url": "https://example.com/hook",
            "dispatch_timeout": 5,
            "result_timeout": 2.5,
            "max_transitions": 7,
        },
    )
    state = await gw.store.load_job(job_id)
    assert state is not None
    assert state.initial_data == {}
    assert state.webhook_url == "https://example.com/hook"
    assert (state.dispatch_timeout, state.result_timeout, state.max_transitions) == (5.0, 2.5, 7)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"initial_data": [1]}, "initial_data"),
        ({"initial_data": "text"}, "initial_data"),
        ({"webhook_url": "ftp://example.com"}, "webhook_url"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"webhook_url": 42}, "webhook_url"),
        ({"dispatch_timeout": 0}, "dispatch_timeout"),
        ({"dispatch_timeout": "10"}, "dispatch_timeout"),
        ({"result_timeout": -1}, "result_timeout"),
        ({"result_timeout": True}, "result_timeout"),
        ({"max_transitions": 0}, "max_transitions"),
        ({"max_transitions": 2.5}, "max_transitions"),
    ],
)
async def test_create_rejects_bad_fields_naming_them(gw: Gateway, body: dict[str, Any], field: str) -> None:
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT, json=body)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(field)
    assert gw.published() == []


async def test_missing_client_token_is_401(gw: Gateway) -> None:
    resp = await gw.http.post(JOB_ROUTE, json={})
    assert resp.status == 401
    assert "X-Client-Token" in (await resp.json())["error"]
    assert gw.published() == []


async def test_wrong_client_token_is_403(gw: Gateway) -> None:
    resp = await gw.http.post(JOB_ROUTE, headers={"X-Client-Token": "nope"}, json={})
    assert resp.status == 403
    assert "invalid X-Client-Token" in (await resp.json())["error"]


# -- read --------------------------------------------------------------------------------------


async def test_get_job_shows_its_state_without_result_until_terminal(gw: Gateway) -> None:
    job_id = await create(gw, {"initial_data": {"x": 1}})
    resp = await gw.http.get(f"/api/v1/jobs/{job_id}", headers=CLIENT)
    assert resp.status == 200
    view = await resp.json()
    assert view == {
        "id": job_id,
        "job_id": job_id,
        "status": PENDING,
        "blueprint_name": "tiny",
        "current_state": "start",
        "progress": None,
        "progress_message": None,
        "created_at": NOW,
        "updated_at": NOW,
        "finished_at": None,
        "error": None,
        "parent_job_id": None,
        "child_job_id": None,
    }


async def test_get_job_shows_result_once_terminal(gw: Gateway) -> None:
    await put_job(gw, job_id="done", status=FINISHED, state_history={"greeting": "hi"})
    await put_job(gw, job_id="busy", status=RUNNING, state_history={"partial": 1})

    done = await (await gw.http.get("/api/v1/jobs/done", headers=CLIENT)).json()
    busy = await (await gw.http.get("/api/v1/jobs/busy", headers=CLIENT)).json()
    assert done["result"] == {"greeting": "hi"}
    assert "result" not in busy


async def test_get_job_shows_progress(gw: Gateway) -> None:
    await put_job(gw, job_id="j")
    await gw.store.set_progress("j", 0.25, "a quarter")
    view = await (await gw.http.get("/api/v1/jobs/j", headers=CLIENT)).json()
    assert (view["progress"], view["progress_message"]) == (0.25, "a quarter")


async def test_get_unknown_job_is_404(gw: Gateway) -> None:
    resp = await gw.http.get("/api/v1/jobs/missing", headers=CLIENT)
    assert resp.status == 404
    assert (await resp.json())["error"] == "job missing not found"


async def test_get_another_clients_job_is_404(gw: Gateway) -> None:
    await put_job(gw, job_id="theirs", client_id="someone-else")
    resp = await gw.http.get("/api/v1/jobs/theirs", headers=CLIENT)
    assert resp.status == 404
    assert (await resp.json())["error"] == "job theirs not found"


async def test_get_job_needs_a_token(gw: Gateway) -> None:
    await put_job(gw, job_id="j")
    assert (await gw.http.get("/api/v1/jobs/j")).status == 401
    assert (await gw.http.get("/api/v1/jobs/j", headers={"X-Client-Token": "x"})).status == 403


# -- cancel ------------------------------------------------------------------------------------


async def test_cancel_publishes_cancel(gw: Gateway) -> None:
    job_id = await create(gw, {})
    resp = await gw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=CLIENT)
    assert resp.status == 200
    assert await resp.json() == {"status": "cancellation_request_accepted", "job_id": job_id}
    [cancel] = gw.published(Cancel)
    assert cancel.key == job_id


async def test_cancel_twice_sends_the_same_message(gw: Gateway) -> None:
    await put_job(gw, job_id="j")
    for _ in range(2):
        assert (await gw.http.post("/api/v1/jobs/j/cancel", headers=CLIENT)).status == 200
    first, second = gw.published(Cancel)
    assert first.id == second.id


async def test_cancel_of_terminal_job_is_409(gw: Gateway) -> None:
    await put_job(gw, job_id="j", status=CANCELLED)
    resp = await gw.http.post("/api/v1/jobs/j/cancel", headers=CLIENT)
    assert resp.status == 409
    assert (await resp.json())["error"] == "job j is already cancelled"
    assert gw.published() == []


async def test_cancel_of_unknown_or_foreign_job_is_404(gw: Gateway) -> None:
    await put_job(gw, job_id="theirs", client_id="someone-else")
    for job_id in ("missing", "theirs"):
        resp = await gw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=CLIENT)
        assert resp.status == 404
        assert (await resp.json())["error"] == f"job {job_id} not found"
    assert gw.published() == []


class UnreachableBroker(MemoryBroker):
    """A broker whose connection is down: every publish fails."""

    async def publish(self, route: str, env: Envelope) -> None:
        raise BrokerUnavailable("broker unreachable")


async def test_a_job_that_cannot_be_queued_is_503_and_left_failed_not_pending(gw: Gateway) -> None:
    store = MemoryStore()
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    app = build_app(GatewayContext(gw.settings, store, UnreachableBroker(), registry, gw.clock))
    async with TestClient(TestServer(app)) as http:
        resp = await http.post(JOB_ROUTE, headers=CLIENT, json={"initial_data": {}})
        assert resp.status == 503
        assert "could not be queued" in (await resp.json())["error"]
    jobs = [await store.load_job(job_id) for job_id in store._jobs]
    assert [(j.status, j.error) for j in jobs if j] == [(FAILED, "could not be queued: broker unreachable")]
