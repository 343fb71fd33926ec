"""The store or broker being away is a 503 the caller can retry: JSON ``{"error": ...}`` with
``Retry-After``, never a 500, on every client and worker route that needs it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import Heartbeat, WorkerRegistration

from engine.errors import BrokerUnavailable, StoreUnavailable
from engine.messages import Envelope
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, NOW, Gateway, wire, worker_headers
from tests.api.test_tasks import result
from tests.blueprints import tiny_blueprint
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore


class StoreAway(MemoryStore):
    """The in-memory store while Redis is away: every public coroutine method raises
    ``StoreUnavailable``, as the Redis store's do."""

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute

        async def away(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("Redis is unavailable: ConnectionError: Connection refused")

        return away


class BrokerAway(MemoryBroker):
    """The in-memory broker while RabbitMQ is away: every publish raises ``BrokerUnavailable``."""

    async def publish(self, route: str, env: Envelope) -> None:
        raise BrokerUnavailable("RabbitMQ is unavailable for 30 s: not published")


@pytest.fixture
async def away(gw: Gateway) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The ``gw`` gateway's settings and broker over a store that is away."""
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    app = build_app(GatewayContext(gw.settings, StoreAway(), gw.broker, registry, gw.clock))
    async with TestClient(TestServer(app)) as http:
        yield http


REQUESTS = [
    pytest.param("POST", "/api/v1/jobs/tiny", CLIENT, {"initial_data": {}}, id="submit"),
    pytest.param("GET", "/api/v1/jobs/j", CLIENT, None, id="read"),
    pytest.param("POST", "/api/v1/jobs/j/cancel", CLIENT, None, id="cancel"),
    pytest.param("GET", "/api/v1/workers", CLIENT, None, id="workers"),
    pytest.param(
        "POST",
        "/_worker/workers/register",
        worker_headers("w1"),
        wire(WorkerRegistration(worker_id="w1", supported_skills=[], available_skills=["echo"])),
        id="register",
    ),
    pytest.param(
        "PATCH",
        "/_worker/workers/w1",
        worker_headers("w1"),
        wire(Heartbeat(worker_id="w1", status="idle", current_tasks=[], timestamp=int(NOW))),
        id="heartbeat",
    ),
    pytest.param("GET", "/_worker/workers/w1/tasks/next?timeout=0", worker_headers("w1"), None, id="poll"),
    pytest.param("POST", "/_worker/tasks/result", worker_headers("w1"), wire(result()), id="result"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS)
async def test_a_store_that_is_away_is_a_503_with_retry_after(
    away: TestClient[web.Request, web.Application], method: str, path: str, headers: dict[str, str], body: Any
) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
    resp = await away.request(method, path, headers=headers, **kwargs)

    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"] == "1"
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": "the store is unavailable; retry shortly"}


async def test_every_503_carries_retry_after(gw: Gateway) -> None:
    """A 503 a handler raises itself (here: the job could not be queued) gets the header too."""
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    app = build_app(GatewayContext(gw.settings, MemoryStore(), BrokerAway(), registry, gw.clock))
    async with TestClient(TestServer(app)) as http:
        resp = await http.post("/api/v1/jobs/tiny", headers=CLIENT, json={"initial_data": {}})

        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        assert "could not be queued" in (await resp.json())["error"]
