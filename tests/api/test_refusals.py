"""Each way in that must be refused, in one place (issue 14, item 6). Several are tested at
length beside their feature too; here each is one short, observable refusal, answered as JSON.

An expired STS access token is here too; the rest of STS is in ``test_sts.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import SecurityContext, TaskResult

from actors.files import Purges
from engine.messages import TaskDone
from engine.registry import BlueprintRegistry
from tests.api.conftest import (
    BODY_LIMIT,
    CLIENT,
    CLIENT_TOKEN,
    NOW,
    SECRET,
    WORKER_TOKEN,
    Gateway,
    put_job,
    sdk_signed,
    wire,
    worker_headers,
)
from tests.api.test_tasks import leased
from tests.api.test_worker_api import registration
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.job_files import JobFiles
from transport.memory import MemoryBroker, MemoryStore
from transport.objects import local_objects


async def refused(resp: Any, status: int, says: str) -> None:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    assert says in (await resp.json())["error"]


def signed_result(timestamp: float, **fields: Any) -> TaskResult:
    message = TaskResult(job_id="j", task_id="t1", worker_id="w1", timestamp=int(timestamp), **fields)
    return sdk_signed(message, "w1")


async def send_result(gw: Gateway, message: TaskResult) -> Any:
    return await gw.http.post("/_worker/tasks/result", headers=worker_headers("w1"), data=wire(message))


async def test_another_clients_job_is_not_found_on_every_route(gw: Gateway) -> None:
    await put_job(gw, job_id="theirs", client_id="someone-else")
    for method, path in [
        ("GET", "/api/v1/jobs/theirs"),
        ("GET", "/api/v1/jobs/theirs/history"),
        ("POST", "/api/v1/jobs/theirs/cancel"),
        ("POST", "/api/v1/jobs/theirs/retry"),
    ]:
        await refused(await gw.http.request(method, path, headers=CLIENT), 404, "job theirs not found")
    listing = await gw.http.get("/api/v1/jobs", headers=CLIENT)
    assert [job["id"] for job in await listing.json()] == []


async def test_a_worker_token_is_not_a_client_token_nor_the_reverse(gw: Gateway) -> None:
    resp = await gw.http.get("/api/v1/jobs", headers={"X-Client-Token": WORKER_TOKEN})
    await refused(resp, 403, "invalid X-Client-Token")
    resp = await gw.http.post("/api/v1/jobs/tiny", headers={"X-Client-Token": WORKER_TOKEN}, json={})
    await refused(resp, 403, "invalid X-Client-Token")
    resp = await gw.http.get("/_worker/workers/w1/tasks/next", headers=worker_headers("w1", token=CLIENT_TOKEN))
    await refused(resp, 401, "invalid X-Worker-Token")


async def test_an_expired_access_token(gw: Gateway) -> None:
    issued = await gw.http.post("/_worker/auth/token", headers=worker_headers("w1"))
    access = (await issued.json())["access_token"]
    register = "/_worker/workers/register"
    body = wire(registration("w1"))
    assert (await gw.http.post(register, headers=worker_headers("w1", token=access), data=body)).status == 200
    gw.clock.advance(gw.settings.sts_access_token_ttl_seconds)

    resp = await gw.http.post(register, headers=worker_headers("w1", token=access), data=body)

    await refused(resp, 401, "an expired or unknown access token")


async def test_a_bad_signature_is_refused_and_changes_nothing(gw: Gateway) -> None:
    await leased(gw)
    forged = TaskResult(
        job_id="j",
        task_id="t1",
        worker_id="w1",
        timestamp=int(NOW),
        security=SecurityContext(signature="0" * 64, signer_id="w1"),
    )
    await refused(await send_result(gw, forged), 403, "signature does not match")
    non_ascii = TaskResult(job_id="j", task_id="t1", worker_id="w1", security=SecurityContext(signature="ü" * 64))
    await refused(await send_result(gw, non_ascii), 403, "signature does not match")
    tampered = msgspec.structs.replace(signed_result(NOW), status="failure")  # signed as a success
    await refused(await send_result(gw, tampered), 403, "signature does not match")
    assert gw.published(TaskDone) == []


async def test_a_stale_timestamp_is_refused(gw: Gateway) -> None:
    await leased(gw)
    await refused(await send_result(gw, signed_result(NOW - 301)), 403, "more than 300 s away")
    await refused(await send_result(gw, signed_result(NOW + 301)), 403, "more than 300 s away")


async def test_a_replayed_message_is_refused_once_stale_and_applied_once_before(gw: Gateway) -> None:
    await leased(gw)
    message = signed_result(NOW)
    first, again = await send_result(gw, message), await send_result(gw, message)
    assert (first.status, again.status) == (200, 200)
    assert len({e.id for e in gw.published(TaskDone)}) == 1  # the same envelope id: the job applies it once
    gw.clock.advance(301)
    await refused(await send_result(gw, message), 403, "more than 300 s away")


async def test_an_oversized_body_is_413(gw: Gateway) -> None:
    body = {"initial_data": {"x": "a" * BODY_LIMIT}}
    await refused(await gw.http.post("/api/v1/jobs/tiny", headers=CLIENT, json=body), 413, "larger than the limit")
    resp = await gw.http.post("/_worker/workers/register", headers=worker_headers("w1"), data="x" * (BODY_LIMIT + 1))
    await refused(resp, 413, "larger than the limit")


@pytest.fixture
async def files_gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = Settings(client_token=CLIENT_TOKEN, global_worker_token=WORKER_TOKEN, orchestrator_secret_key=SECRET)
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    store, broker, clock = MemoryStore(), MemoryBroker(), FakeClock(NOW)
    purges = Purges(store, clock, after=60)
    files = JobFiles(local_objects(tmp_path / "objects"), inline_limit=1024, task_files_dir=tmp_path, purges=purges)
    app = build_app(GatewayContext(settings, store, broker, registry, clock, files=files))
    async with TestClient(TestServer(app)) as http:
        yield Gateway(http, store, broker, clock, settings)
    await broker.close()
    await store.close()


async def test_a_path_traversal_in_a_file_name_is_400(files_gw: Gateway) -> None:
    await put_job(files_gw)
    files = "/api/v1/jobs/job-1/files"
    resp = await files_gw.http.get(f"{files}/upload", params={"filename": "../job-2/x"}, headers=CLIENT)
    await refused(resp, 400, "'..'")
    resp = await files_gw.http.put(f"{files}/content/a%2F..%2F..%2Fjob-2%2Fx", data=b"x", headers=CLIENT)
    await refused(resp, 400, "file name")
    resp = await files_gw.http.get(f"{files}/download/..%2Fjob-2%2Fx", headers=CLIENT)
    await refused(resp, 400, "file name")
    resp = await files_gw.http.put(f"{files}/content/a%09b", data=b"x", headers=CLIENT)  # found by the fuzzing
    await refused(resp, 400, "must not contain control characters")


async def test_a_forged_or_garbled_object_link_is_403(files_gw: Gateway) -> None:
    resp = await files_gw.http.get("/_public/objects/job-1/x", params={"expires": "9999999999", "signature": "ü"})
    await refused(resp, 403, "signature does not match")
    resp = await files_gw.http.get("/_public/objects/job-1/x", params={"expires": "²", "signature": "ab"})
    await refused(resp, 403, "needs its expires and signature")


async def test_a_limit_in_other_digits_is_400_not_500(gw: Gateway) -> None:
    for path in ("/api/v1/jobs/quarantined", "/api/v1/webhooks/failed", "/api/v1/jobs"):
        await refused(await gw.http.get(path, params={"limit": "²"}, headers=CLIENT), 400, "limit")
