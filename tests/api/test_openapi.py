"""``/_public/openapi.json`` describes every route the app serves; ``/_public/docs`` renders it
from the package alone."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from schemathesis.core.result import Ok

from engine import StateMachineBlueprint
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, Gateway
from tests.blueprints import tiny_blueprint
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.gateway.openapi import build
from transport.gateway.openapi import models as m
from transport.gateway.openapi.operations import DISABLED_METHODS
from transport.memory import MemoryBroker, MemoryStore


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, as the document writes them; ``HEAD`` is
    implied by ``GET``, and the web console's static files (``/ui/``) are not API."""
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or resource.canonical.startswith("/ui"):
            continue
        methods = DISABLED_METHODS if route.method == "*" else (route.method,)
        found |= {(method.lower(), resource.canonical) for method in methods}
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def app_with(*blueprints: StateMachineBlueprint, **settings: Any) -> web.Application:
    registry = BlueprintRegistry()
    for bp in blueprints:
        registry.register(bp)
    settings.setdefault("client_token", "t")
    return build_app(GatewayContext(Settings(**settings), MemoryStore(), MemoryBroker(), registry))


def refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {value["$ref"]} if "$ref" in value else set().union(*(refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(refs(v) for v in value))
    return set()


def other_blueprint() -> StateMachineBlueprint:
    bp = StateMachineBlueprint("resize", api_endpoint="/images/resize")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        return None

    return bp


async def test_every_route_the_app_serves_is_in_the_document() -> None:
    app = app_with(tiny_blueprint(), other_blueprint())
    doc = build(app)
    assert routed(app) - documented(doc) == set()
    assert documented(doc) == routed(app)


async def test_every_route_is_documented_with_the_client_api_disabled_too() -> None:
    app = app_with(tiny_blueprint(), enable_client_api=False)
    doc = build(app)
    assert routed(app) == documented(doc)
    assert "/api/v1/jobs/tiny" not in doc["paths"]


async def test_one_create_route_per_blueprint_with_the_job_body() -> None:
    doc = build(app_with(tiny_blueprint(), other_blueprint()))
    for path in ("/api/v1/jobs/tiny", "/api/v1/images/resize"):
        create = doc["paths"][path]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/JobRequest"
        }
        assert "202" in create["responses"]
        assert create["security"] == [{"ClientToken": []}]
    body = doc["components"]["schemas"]["JobRequest"]["properties"]
    assert {"initial_data", "webhook_url", "security", "metadata", "policy", "max_transitions"} <= body.keys()


async def test_every_reference_resolves_and_every_error_is_the_json_error() -> None:
    doc = build(app_with(tiny_blueprint()))
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]
    assert {r.rsplit("/", 1)[1] for r in refs(doc)} <= schemas.keys()
    for item in doc["paths"].values():
        for op in item.values():
            for status, answer in op["responses"].items():
                if status >= "400":
                    assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


async def test_worker_routes_use_rxon_models_and_the_worker_token() -> None:
    doc = build(app_with(tiny_blueprint()))
    register = doc["paths"]["/_worker/workers/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WorkerRegistration")
    assert register["security"] == [{"WorkerToken": []}]
    assert "TaskPayload" in doc["components"]["schemas"]


async def test_the_document_and_the_docs_page_are_served_without_a_token(gw: Gateway) -> None:
    resp = await gw.http.get("/_public/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert documented(doc) == routed(gw.http.app)
    page = await gw.http.get("/_public/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert "openapi.json" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page loads nothing from elsewhere"


async def test_the_client_models_match_real_answers(gw: Gateway) -> None:
    resp = await gw.http.post("/api/v1/jobs/tiny", headers=CLIENT, json={"initial_data": {}})
    accepted = msgspec.convert(await resp.json(), m.JobAccepted)
    view = await (await gw.http.get(f"/api/v1/jobs/{accepted.job_id}", headers=CLIENT)).json()
    msgspec.convert(view, m.JobView)
    listing = await (await gw.http.get("/api/v1/jobs", headers=CLIENT)).json()
    msgspec.convert(listing, list[m.JobView])
    error = await (await gw.http.get("/api/v1/jobs/nope", headers=CLIENT)).json()
    msgspec.convert(error, m.Error)


async def test_a_test_server_app_builds_its_document_at_start_up() -> None:
    app = app_with(tiny_blueprint())
    async with TestClient(TestServer(app)) as http:
        assert (await (await http.get("/_public/openapi.json")).json())["paths"]


async def test_schemathesis_reads_every_operation_of_the_document() -> None:
    doc = build(app_with(tiny_blueprint(), other_blueprint()))
    operations = list(schemathesis.openapi.from_dict(doc).get_all_operations())
    assert all(isinstance(result, Ok) for result in operations)
    assert len(operations) == sum(len(item) for item in doc["paths"].values())
