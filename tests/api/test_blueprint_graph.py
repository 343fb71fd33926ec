"""``GET /api/v1/blueprints/{name}/graph``: DOT by default, SVG on request, JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from blueprints.demo import demo
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, CLIENT_TOKEN, NOW, SECRET, WORKER_TOKEN
from tests.support.clock import FakeClock
from tests.support.servers import need_executable
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

GOLDEN = Path(__file__).resolve().parents[1] / "unit" / "golden" / "demo.dot"
GRAPH = "/api/v1/blueprints/demo/graph"


def need_dot() -> None:
    """Skip when Graphviz's ``dot`` is missing locally; fail when ``CI`` is set (STYLE.md, rule 3)."""
    need_executable("dot", "Graphviz: apt-get install graphviz")


@pytest.fixture
async def http() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings = Settings(client_token=CLIENT_TOKEN, global_worker_token=WORKER_TOKEN, orchestrator_secret_key=SECRET)
    registry = BlueprintRegistry()
    registry.register(demo)
    store, broker = MemoryStore(), MemoryBroker()
    app = build_app(GatewayContext(settings, store, broker, registry, FakeClock(NOW)))
    async with TestClient(TestServer(app)) as client:
        yield client
    await broker.close()
    await store.close()


async def test_graph_is_dot_by_default(http: TestClient[web.Request, web.Application]) -> None:
    response = await http.get(GRAPH, headers=CLIENT)

    assert response.status == 200
    assert response.content_type == "text/vnd.graphviz"
    assert await response.text() == GOLDEN.read_text()


async def test_graph_as_svg(http: TestClient[web.Request, web.Application]) -> None:
    need_dot()

    response = await http.get(GRAPH, params={"format": "svg"}, headers=CLIENT)

    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    svg = await response.text()
    assert "<svg" in svg
    assert "not_greeted" in svg


async def test_svg_without_graphviz_is_a_json_501_naming_it(
    http: TestClient[web.Request, web.Application], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot executable on it

    response = await http.get(GRAPH, params={"format": "svg"}, headers=CLIENT)

    assert response.status == 501
    assert "'dot' executable" in (await response.json())["error"]
    dot = await http.get(GRAPH, params={"format": "dot"}, headers=CLIENT)
    assert dot.status == 200


async def test_unknown_blueprint_is_404(http: TestClient[web.Request, web.Application]) -> None:
    response = await http.get("/api/v1/blueprints/nope/graph", headers=CLIENT)

    assert response.status == 404
    assert (await response.json()) == {"error": "no blueprint named 'nope'"}


async def test_bad_format_is_400_naming_the_allowed_ones(http: TestClient[web.Request, web.Application]) -> None:
    response = await http.get(GRAPH, params={"format": "jpeg"}, headers=CLIENT)

    assert response.status == 400
    assert (await response.json()) == {"error": "format must be one of dot, svg, png; got 'jpeg'"}


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-Client-Token": "wrong"}, 403)])
async def test_graph_needs_a_client_token(
    http: TestClient[web.Request, web.Application], headers: dict[str, str], status: int
) -> None:
    response = await http.get(GRAPH, headers=headers)

    assert response.status == status
    assert "X-Client-Token" in (await response.json())["error"]
