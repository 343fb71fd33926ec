"""clients.toml at the gateway: who a client is, what its jobs carry, that no client sees
another's jobs, the admin role, and job quotas (with a fake clock across the day boundary)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors.ports.store import WebhookDelivery
from engine.job import FINISHED, QUARANTINED
from tests.api.conftest import NOW, Gateway, put_job, set_status, worker_headers
from tests.api.tenancy import CAPPED, OPS, A, B, client, settings_for, tenancy_gateway
from transport.app.clients import client_id_of
from transport.gateway.limits import BLOCKED

JOBS = "/api/v1/jobs/tiny"


@pytest.fixture
async def tg(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with tenancy_gateway(settings_for(tmp_path, rate_limiting_enabled=False)) as gateway:
        yield gateway


async def create(gw: Gateway, token: str, status: int = 202) -> Any:
    resp = await gw.http.post(JOBS, headers=client(token), json={"initial_data": {}})
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_a_job_belongs_to_its_client_and_carries_its_plan_and_params(tg: Gateway) -> None:
    job_id = (await create(tg, A))["job_id"]

    state = await tg.store.load_job(job_id)
    assert state is not None
    assert (state.client_id, state.client_plan, state.client_params) == ("team_a", "premium", {"max_size": 10})


async def test_a_token_written_as_its_sha256_authenticates(tg: Gateway) -> None:
    job_id = (await create(tg, B))["job_id"]

    state = await tg.store.load_job(job_id)
    assert state is not None and (state.client_id, state.client_plan) == ("team_b", "default")


@pytest.mark.parametrize("token", ["nope", "gpu-token", "worker-token", "b" * 64])
async def test_unknown_tokens_and_worker_tokens_are_refused_as_client_tokens(tg: Gateway, token: str) -> None:
    resp = await tg.http.post(JOBS, headers=client(token), json={})

    assert resp.status == 403
    assert (await resp.json()) == {"error": "invalid X-Client-Token"}


async def test_no_client_reaches_another_clients_job_on_any_route(tg: Gateway) -> None:
    job_id = (await create(tg, A))["job_id"]
    await set_status(tg, job_id, QUARANTINED)
    routes = [
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("POST", f"/api/v1/jobs/{job_id}/cancel"),
        ("POST", f"/api/v1/jobs/{job_id}/retry"),
        ("GET", f"/api/v1/jobs/{job_id}/history"),
        ("GET", f"/api/v1/jobs/{job_id}/files/upload?filename=a.txt"),
        ("PUT", f"/api/v1/jobs/{job_id}/files/content/a.txt"),
        ("GET", f"/api/v1/jobs/{job_id}/files/download/a.txt"),
    ]
    for method, path in routes:
        theirs = await tg.http.request(method, path, headers=client(B))
        assert theirs.status == 404, path
        assert (await theirs.json()) == {"error": f"job {job_id} not found"}

    mine = await tg.http.get("/api/v1/jobs/quarantined", headers=client(A))
    theirs = await tg.http.get("/api/v1/jobs/quarantined", headers=client(B))
    assert [job["id"] for job in await mine.json()] == [job_id]
    assert await theirs.json() == []
    assert (await tg.http.get(f"/api/v1/jobs/{job_id}", headers=client(A))).status == 200


async def test_no_client_sees_or_redelivers_another_clients_failed_webhooks(tg: Gateway) -> None:
    dead = WebhookDelivery(
        id="wh-1", url="https://a.example/hook", client_id="team_a", job_id="j", event="job_finished",
        body=b"{}", created_at=NOW, give_up_at=NOW + 60, next_at=NOW, dead_at=NOW,
    )  # fmt: skip
    assert await tg.store.add_webhook(dead)
    assert await tg.store.bury_webhook(dead)

    mine = await tg.http.get("/api/v1/webhooks/failed", headers=client(A))
    theirs = await tg.http.get("/api/v1/webhooks/failed", headers=client(B))
    stolen = await tg.http.post("/api/v1/webhooks/failed/wh-1/redeliver", headers=client(B))

    assert [d["webhook_id"] for d in await mine.json()] == ["wh-1"]
    assert await theirs.json() == []
    assert stolen.status == 404


async def test_the_workers_list_names_no_job_or_task(tg: Gateway) -> None:
    await put_job(tg, job_id="secret-job", client_id="team_a", task_id="secret-task")
    body = '{"worker_id": "w-free", "supported_skills": [], "available_skills": ["echo"]}'
    assert (await tg.http.post("/_worker/workers/register", headers=worker_headers("w-free"), data=body)).status == 200

    resp = await tg.http.get("/api/v1/workers", headers=client(B))

    text = await resp.text()
    assert resp.status == 200 and "w-free" in text
    assert "secret" not in text


async def test_reload_workers_is_for_the_admin_role_only(tg: Gateway) -> None:
    refused = await tg.http.post("/api/v1/admin/reload-workers", headers=client(A))
    assert refused.status == 403
    assert "admin role" in (await refused.json())["error"]

    done = await tg.http.post("/api/v1/admin/reload-workers", headers=client(OPS))
    assert done.status == 200
    assert (await done.json())["status"] == "worker_configs_reloaded"


async def test_client_token_alone_is_the_admin(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, clients_config_path="", client_token="env-token")
    async with tenancy_gateway(settings) as gw:
        resp = await gw.http.post("/api/v1/admin/reload-workers", headers=client("env-token"))
        assert resp.status == 200
        resp = await gw.http.post(JOBS, headers=client("env-token"), json={})
        state = await gw.store.load_job((await resp.json())["job_id"])
        assert state is not None and state.client_id == client_id_of("env-token")


# -- quotas ---------------------------------------------------------------------------------------


async def test_the_daily_quota_refuses_with_a_429_naming_it_until_the_next_utc_day(tg: Gateway) -> None:
    tg.clock.now = NOW  # 2027-01-15 08:00 UTC
    for _ in range(2):
        job_id = (await create(tg, CAPPED))["job_id"]
        await set_status(tg, job_id, FINISHED)  # not running: only the daily quota is in the way

    refused = await tg.http.post(JOBS, headers=client(CAPPED), json={})

    assert refused.status == 429
    error = (await refused.json())["error"]
    assert "jobs_per_day" in error and "capped" in error and "2027-01-16T00:00:00Z" in error
    assert refused.headers["Retry-After"] == str(16 * 3600)
    assert tg.http.app[BLOCKED].by_class["quota"] == 1
    tg.clock.now = NOW + 16 * 3600  # midnight UTC: a new day, the same month
    await create(tg, CAPPED)


async def test_the_monthly_quota_counts_jobs_created_not_requests(tg: Gateway) -> None:
    for day in range(3):
        tg.clock.now = NOW + day * 86400
        job_id = (await create(tg, CAPPED))["job_id"]
        await tg.http.get(f"/api/v1/jobs/{job_id}", headers=client(CAPPED))  # reads count nothing
        await set_status(tg, job_id, FINISHED)

    tg.clock.now = NOW + 3 * 86400
    refused = await tg.http.post(JOBS, headers=client(CAPPED), json={})

    assert refused.status == 429 and "monthly_attempts" in (await refused.json())["error"]


async def test_running_jobs_are_capped_until_one_ends(tg: Gateway) -> None:
    first = (await create(tg, CAPPED))["job_id"]

    refused = await tg.http.post(JOBS, headers=client(CAPPED), json={})
    assert refused.status == 429
    assert "max_running_jobs" in (await refused.json())["error"] and "Retry-After" not in refused.headers
    await create(tg, A)  # another client is not held up

    await set_status(tg, first, FINISHED)
    await create(tg, CAPPED)


async def test_a_refused_job_is_not_stored(tg: Gateway) -> None:
    await create(tg, CAPPED)
    await create(tg, CAPPED, status=429)

    assert len(tg.published()) == 1
