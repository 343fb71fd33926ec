"""The gateway over TLS (``TLS_*``): served by ``serve_gateway`` as ``avtomat up`` and ``avtomat
gateway`` serve it, reached with real certificates of a throw-away CA (``tests/support/certs``)."""

from __future__ import annotations

import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from rxon.models import SkillInfo

from engine.errors import ParentUnavailable
from engine.registry import BlueprintRegistry
from tests.blueprints import tiny_blueprint
from tests.support.certs import Pki, make_pki
from transport.app.settings import ParentSettings, Settings
from transport.app.tls import TlsSettings
from transport.app.wiring import serve_gateway
from transport.memory import MemoryBroker, MemoryStore
from transport.parent import RxonParent

WORKER_TOKEN = "worker-token"
Serve = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def serve(pki: Pki) -> Serve:
    """``serve(**tls)``: a gateway with the server certificate and these ``TlsSettings`` fields."""

    @asynccontextmanager
    async def served(**tls: object) -> AsyncIterator[str]:
        settings = Settings(
            api_port=0,
            client_token="client-token",
            global_worker_token=WORKER_TOKEN,
            orchestrator_secret_key="secret",
            tls=replace(TlsSettings(str(pki.server.cert), str(pki.server.key)), **tls),  # type: ignore[arg-type]
        )
        registry = BlueprintRegistry()
        registry.register(tiny_blueprint())
        store, broker = MemoryStore(), MemoryBroker()
        try:
            async with serve_gateway(settings, registry, broker, store, time.time) as url:
                yield url
        finally:
            await broker.close()
            await store.close()

    return served


async def get(
    url: str, ssl: ssl_module.SSLContext | bool, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as http, http.get(url, ssl=ssl, headers=headers) as resp:
        await resp.read()
        return resp


async def test_the_gateway_serves_https_with_a_certificate_for_its_address(serve: Serve, pki: Pki) -> None:
    async with serve() as url:
        assert url.startswith("https://127.0.0.1:")
        resp = await get(f"{url}/_public/status", pki.client_context())
        assert resp.status == 200
        localhost = url.replace("127.0.0.1", "localhost")
        assert (await get(f"{localhost}/_public/status", pki.client_context())).status == 200


async def test_plain_http_is_refused_on_the_tls_port(serve: Serve) -> None:
    async with serve() as url:
        with pytest.raises(aiohttp.ClientError):
            await get(url.replace("https://", "http://") + "/_public/status", False)


async def test_a_client_without_a_certificate_is_refused_when_one_is_required(serve: Serve, pki: Pki) -> None:
    async with serve(ca_path=str(pki.ca), require_client_cert=True) as url:
        with pytest.raises(aiohttp.ClientError):
            await get(f"{url}/_public/status", pki.client_context())
        resp = await get(f"{url}/_public/status", pki.client_context(pki.client("anyone")))
        assert resp.status == 200


async def test_a_certificate_of_another_ca_is_refused(
    serve: Serve, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger = make_pki(tmp_path_factory.mktemp("other-pki"), ca_name="someone else's CA")
    async with serve(ca_path=str(pki.ca)) as url:  # optional certificates: a bad one still fails
        with pytest.raises(aiohttp.ClientError):
            await get(f"{url}/_public/status", pki.client_context(stranger.client("w1")))


async def post(url: str, ssl: ssl_module.SSLContext, headers: dict[str, str], body: object = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, ssl=ssl, headers=headers, json=body) as resp:
        return resp.status, await resp.json()


def registration(worker_id: str) -> dict[str, object]:
    return {"worker_id": worker_id, "worker_type": "demo", "supported_skills": [{"name": "echo"}]}


PLACEHOLDER = {"X-Worker-Token": "your-secret-worker-token"}  # the SDK's default: it does not sign


async def test_a_client_certificate_names_the_worker(serve: Serve, pki: Pki) -> None:
    w1 = pki.client_context(pki.client("w1"))
    async with serve(ca_path=str(pki.ca), require_client_cert=True) as url:
        status, _ = await post(f"{url}/_worker/workers/register", w1, PLACEHOLDER, registration("w1"))
        assert status == 200
        status, answer = await post(f"{url}/_worker/workers/register", w1, PLACEHOLDER, registration("w2"))
        assert (status, answer["error"]) == (403, "worker_id 'w2' does not match the client certificate's worker 'w1'")
        status, grant = await post(f"{url}/_worker/auth/token", w1, {})
        assert (status, grant["worker_id"]) == (200, "w1")


async def test_a_certificate_whose_cn_is_not_x_worker_id_is_403(serve: Serve, pki: Pki) -> None:
    w1 = pki.client_context(pki.client("w1"))
    async with serve(ca_path=str(pki.ca), require_client_cert=True) as url:
        headers = {**PLACEHOLDER, "X-Worker-ID": "w2"}
        status, answer = await post(f"{url}/_worker/workers/register", w1, headers, registration("w2"))
        assert status == 403
        assert "does not match the client certificate's CN 'w1'" in answer["error"]
        _, grant = await post(f"{url}/_worker/auth/token", w1, {})
        refresh = {"refresh_token": grant["refresh_token"]}
        status, answer = await post(f"{url}/_worker/auth/token/refresh", w1, {"X-Worker-ID": "w2"}, refresh)
        assert status == 403


async def test_an_access_token_beside_a_certificate_must_be_the_workers_and_valid(serve: Serve, pki: Pki) -> None:
    w1, w2 = (pki.client_context(pki.client(name)) for name in ("w1", "w2"))
    async with serve(ca_path=str(pki.ca)) as url:
        _, theirs = await post(f"{url}/_worker/auth/token", w2, {})
        headers = {"X-Worker-Token": theirs["access_token"]}
        status, _ = await post(f"{url}/_worker/workers/register", w1, headers, registration("w1"))
        assert status == 403
        forged = theirs["access_token"] + "x"  # not a token this deployment issued: 401, so the SDK refreshes
        status, _ = await post(f"{url}/_worker/workers/register", w2, {"X-Worker-Token": forged}, registration("w2"))
        assert status == 401


async def test_modes_decide_whether_a_certificate_counts(serve: Serve, pki: Pki) -> None:
    w1 = pki.client_context(pki.client("w1"))
    async with serve(ca_path=str(pki.ca), worker_auth_mode="mtls-only") as url:
        assert (await post(f"{url}/_worker/workers/register", w1, {}, registration("w1")))[0] == 200
        bare = pki.client_context()  # no certificate: a static token is not enough
        headers = {"X-Worker-Token": WORKER_TOKEN, "X-Worker-ID": "w1"}
        assert (await post(f"{url}/_worker/workers/register", bare, headers, registration("w1")))[0] == 401
    async with serve(ca_path=str(pki.ca), worker_auth_mode="token-only") as url:
        assert (await post(f"{url}/_worker/workers/register", w1, {}, registration("w1")))[0] == 401


async def test_a_certificate_gets_new_tokens_when_its_refresh_token_no_longer_works(serve: Serve, pki: Pki) -> None:
    """As after a restart on the in-memory store: the SDK holds a refresh token nobody knows, and
    never calls /auth/token again once it has one."""
    w1 = pki.client_context(pki.client("w1"))
    async with serve(ca_path=str(pki.ca)) as url:
        gone = {"refresh_token": "rt.from-a-gateway-that-restarted"}
        status, grant = await post(f"{url}/_worker/auth/token/refresh", w1, {"X-Worker-ID": "w1"}, gone)
        assert (status, grant["worker_id"]) == (200, "w1")
        status, _ = await post(f"{url}/_worker/auth/token/refresh", pki.client_context(), {"X-Worker-ID": "w1"}, gone)
        assert status == 401  # no certificate: the refresh token is the only credential


async def test_a_holon_reaches_a_parent_on_https_with_the_parents_ca_and_its_own_certificate(
    serve: Serve, pki: Pki
) -> None:
    mine = pki.client("holon-1")
    trusted = ParentSettings("", WORKER_TOKEN, tls_ca_path=str(pki.ca))
    with_cert = replace(trusted, tls_cert_path=str(mine.cert), tls_key_path=str(mine.key))
    async with serve(ca_path=str(pki.ca), require_client_cert=True) as url:
        async with RxonParent(url, "holon-1", WORKER_TOKEN, ssl_context=with_cert.ssl_context()) as link:
            await link.register([SkillInfo(name="tiny")])  # accepted: raises otherwise
        for refused in (ParentSettings("", WORKER_TOKEN), trusted):  # the system's CAs only; no certificate
            async with RxonParent(url, "holon-1", WORKER_TOKEN, ssl_context=refused.ssl_context()) as link:
                with pytest.raises(ParentUnavailable):
                    await link.register([SkillInfo(name="tiny")])
