"""``ENABLE_CLIENT_API=false`` (Pure Holon mode): every client route answers 404 with a JSON body
saying why; the worker API, the public status and the approval webhook stay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import WorkerRegistration

from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, NOW, WORKER_TOKEN, wire, worker_headers
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

Http = TestClient[web.Request, web.Application]


@pytest.fixture
async def http() -> AsyncIterator[Http]:
    settings = Settings(client_token="client-token", global_worker_token=WORKER_TOKEN, enable_client_api=False)
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    store, broker = MemoryStore(), MemoryBroker()
    app = build_app(GatewayContext(settings, store, broker, registry, FakeClock(NOW)))
    async with TestClient(TestServer(app)) as client:
        yield client
    await broker.close()
    await store.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/jobs/tiny"),
        ("GET", "/api/v1/jobs/some-job"),
        ("POST", "/api/v1/jobs/some-job/cancel"),
        ("POST", "/api/v1/jobs/some-job/retry"),
        ("GET", "/api/v1/jobs/some-job/history"),
        ("GET", "/api/v1/jobs/quarantined"),
        ("GET", "/api/v1/workers"),
        ("GET", "/api/v1/blueprints/tiny/graph"),
        ("GET", "/api/v1/blueprints"),
        ("GET", "/api/v1/dashboard"),
        ("GET", "/api/v1/jobs/some-job/events"),
        ("GET", "/api/v1/jobs/some-job/files"),
        ("GET", "/api/v2/anything/else"),
    ],
)
async def test_every_client_route_is_gone(http: Http, method: str, path: str) -> None:
    async with http.request(method, path, headers=CLIENT, json={"initial_data": {}}) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert "ENABLE_CLIENT_API=false" in (await resp.json())["error"]


async def test_there_is_no_console_without_the_client_api(http: Http) -> None:
    for path in ("/", "/ui/", "/ui/app.js"):
        async with http.get(path, allow_redirects=False) as resp:
            assert resp.status == 404, path


async def test_the_worker_api_and_the_status_stay(http: Http) -> None:
    async with http.get("/_public/status") as resp:
        assert resp.status == 200

    registration = WorkerRegistration(worker_id="w1", timestamp=int(NOW))
    async with http.post("/_worker/workers/register", data=wire(registration), headers=worker_headers("w1")) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "registered"
