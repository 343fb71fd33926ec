"""TLS, mTLS and STS end to end (issue 14, item 4): ``avtomat`` served over TLS with client
certificates required, and the unmodified SDK worker connecting with its own certificate (CN =
its worker id) and the test CA, while access tokens live 3 s. Its rotation task gets a token
from ``/_worker/auth/token`` after 5 s and signs with it from then on; once that token expires, its
401 path refreshes the header token only (``/_worker/auth/token/refresh``), so it keeps signing
with the first one (ADR 0024). Jobs must keep finishing through all of it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker
from tests.support.certs import Pki, make_pki

pytestmark = pytest.mark.e2e

WORKER_ID = "e2e-tls-worker"
ACCESS_TTL = 3  # the first 401 and refresh come about 8 s in (5 s before the first token, then 3 s)
RUN_SECONDS = 14.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(
    request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Orchestrator]:
    yield from launch(
        request.param,
        tmp_path_factory,
        TLS_CERT_PATH=str(pki.server.cert),
        TLS_KEY_PATH=str(pki.server.key),
        TLS_CA_PATH=str(pki.ca),
        TLS_REQUIRE_CLIENT_CERT="true",
        STS_ACCESS_TOKEN_TTL_SECONDS=str(ACCESS_TTL),
        STS_REFRESH_TOKEN_TTL_SECONDS="120",
    )


@pytest.fixture
async def client(orchestrator: Orchestrator, pki: Pki) -> AsyncIterator[Client]:
    """A client presenting a certificate of its own: every connection needs one."""
    connector = aiohttp.TCPConnector(ssl=pki.client_context(pki.client("e2e-client")))
    async with aiohttp.ClientSession(headers=orchestrator.client_headers, connector=connector) as http:
        yield Client(orchestrator, http)


@pytest.fixture(scope="module")
def tls_worker(
    orchestrator: Orchestrator, pki: Pki, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    pair = pki.client(WORKER_ID)
    tls = {"TLS_CA_PATH": str(pki.ca), "TLS_CERT_PATH": str(pair.cert), "TLS_KEY_PATH": str(pair.key)}
    with start_sdk_worker(orchestrator, WORKER_ID, marker_dir, tmp_path_factory, **tls):
        yield WORKER_ID


async def issued(client: Client) -> dict[str, int]:
    async with client.http.get(f"{client.orch.url}/_public/metrics") as resp:
        text = await resp.text()
    found = re.findall(r'orchestrator_sts_tokens_issued_total\{grant="(\w+)"\} ([0-9.]+)', text)
    return {grant: int(float(n)) for grant, n in found}


async def test_jobs_keep_finishing_over_mtls_while_tokens_are_issued_and_refreshed(
    client: Client, tls_worker: str
) -> None:
    started, finished = time.monotonic(), list[str]()
    while time.monotonic() - started < RUN_SECONDS:
        text = f"t{len(finished)}"
        body = {"initial_data": {"side": "left", "text": text}}
        state = await client.wait(await client.submit("branch", body), timeout=15.0)
        assert state["status"] == "finished", state
        assert (state["result"]["echo"], state["result"]["worker"]) == (text, tls_worker)
        finished.append(text)
        await asyncio.sleep(0.2)

    counts = await issued(client)
    assert counts.get("token", 0) >= 1, counts  # the rotation task's first call
    assert counts.get("refresh_token", 0) >= 1, counts  # the SDK's 401 path
    assert len(finished) >= 10


async def test_plain_http_and_certificate_less_connections_are_refused(orchestrator: Orchestrator, pki: Pki) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(orchestrator.url.replace("https://", "http://") + "/_public/status") as resp:
                await resp.read()
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"{orchestrator.url}/_public/status", ssl=pki.client_context()) as resp:
                await resp.read()


async def test_a_certificate_whose_cn_is_not_x_worker_id_is_403(orchestrator: Orchestrator, pki: Pki) -> None:
    headers = {"X-Worker-Token": orchestrator.worker_token, "X-Worker-ID": "someone-else"}
    ssl = pki.client_context(pki.client("e2e-intruder"))
    url = f"{orchestrator.url}/_worker/auth/token"
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers, ssl=ssl) as resp:
        assert resp.status == 403
        assert "does not match the client certificate's CN 'e2e-intruder'" in (await resp.json())["error"]
