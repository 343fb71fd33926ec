"""Conventions every route shares: JSON errors naming the problem, and ``X-RXON-Version``."""

from __future__ import annotations

from rxon.constants import PROTOCOL_VERSION

from tests.api.conftest import BODY_LIMIT, CLIENT, Gateway, worker_headers

JOB_ROUTE = "/api/v1/jobs/tiny"


async def test_public_status_needs_no_token(gw: Gateway) -> None:
    resp = await gw.http.get("/_public/status")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    assert resp.headers["X-RXON-Version"] == PROTOCOL_VERSION


async def test_unknown_route_is_json_404(gw: Gateway) -> None:
    resp = await gw.http.get("/nowhere")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"] == "no route for GET /nowhere"
    assert resp.headers["X-RXON-Version"] == PROTOCOL_VERSION


async def test_post_to_unknown_blueprint_is_404_not_405(gw: Gateway) -> None:
    resp = await gw.http.post("/api/v1/jobs/no_such_flow", headers=CLIENT, json={})
    assert resp.status == 404
    assert "no blueprint" in (await resp.json())["error"]


async def test_wrong_method_is_json_405_with_allow(gw: Gateway) -> None:
    resp = await gw.http.delete("/_public/status")
    assert resp.status == 405
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert "DELETE" in error and "GET" in error
    assert "GET" in resp.headers["Allow"]
    assert resp.headers["X-RXON-Version"] == PROTOCOL_VERSION


async def test_malformed_json_is_400(gw: Gateway) -> None:
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT, data=b"{not json")
    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert "not valid JSON" in (await resp.json())["error"]


async def test_json_that_is_not_an_object_is_400(gw: Gateway) -> None:
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT, json=[1, 2])
    assert resp.status == 400
    assert (await resp.json())["error"] == "request body must be a JSON object, got an array"


async def test_empty_body_is_400(gw: Gateway) -> None:
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT)
    assert resp.status == 400
    assert "empty" in (await resp.json())["error"]


async def test_oversized_body_is_413_naming_the_limit(gw: Gateway) -> None:
    body = b'{"initial_data": {"blob": "' + b"x" * (BODY_LIMIT + 10) + b'"}}'
    resp = await gw.http.post(JOB_ROUTE, headers=CLIENT, data=body)
    assert resp.status == 413
    assert resp.content_type == "application/json"
    assert f"{BODY_LIMIT} bytes" in (await resp.json())["error"]


async def test_oversized_worker_body_is_413(gw: Gateway) -> None:
    body = b'{"worker_id": "w1", "metadata": {"blob": "' + b"x" * BODY_LIMIT + b'"}}'
    resp = await gw.http.post("/_worker/workers/register", headers=worker_headers("w1"), data=body)
    assert resp.status == 413
    assert f"{BODY_LIMIT} bytes" in (await resp.json())["error"]


async def test_auth_errors_carry_the_version_header(gw: Gateway) -> None:
    resp = await gw.http.get("/api/v1/workers")
    assert resp.status == 401
    assert resp.headers["X-RXON-Version"] == PROTOCOL_VERSION
