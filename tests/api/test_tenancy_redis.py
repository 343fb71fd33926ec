"""Tenancy across gateways: two gateway apps, each with its own ``RedisStore`` on one Redis
namespace, as two ``avtomat gateway`` processes run. A reload on one reaches the other within
its cache time; a rate limit and a quota hold across both."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.api.conftest import NOW, Gateway, worker_headers
from tests.api.tenancy import CAPPED, GPU, OPS, A, client, rewrite_workers, settings_for, tenancy_gateway
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.clock import FakeClock
from transport.app.settings import Settings

REGISTER = "/_worker/workers/register"


@contextlib.asynccontextmanager
async def two_gateways(settings: Settings) -> AsyncIterator[tuple[Gateway, Gateway]]:
    prefix, clock = unique_prefix(), FakeClock(NOW)
    async with (
        redis_store(prefix) as first_store,
        redis_store(prefix) as second_store,
        tenancy_gateway(settings, first_store, clock) as first,
        tenancy_gateway(settings, second_store, clock) as second,
    ):
        yield first, second


async def register(gw: Gateway, worker_id: str, token: str) -> int:
    body = f'{{"worker_id": "{worker_id}", "supported_skills": [{{"name": "echo"}}]}}'
    resp = await gw.http.post(REGISTER, headers=worker_headers(worker_id, token), data=body)
    return resp.status


async def test_a_reload_on_one_gateway_takes_effect_on_the_other_within_its_cache_time(tmp_path: Path) -> None:
    async with two_gateways(settings_for(tmp_path, rate_limiting_enabled=False)) as (first, second):
        assert await register(second, "gpu-1", GPU) == 200  # the second gateway has read the table
        rewrite_workers(first.settings, '[gpu-2]\ntoken = "gpu-2-token"\n')

        resp = await first.http.post("/api/v1/admin/reload-workers", headers=client(OPS))

        assert resp.status == 200
        assert await register(first, "gpu-2", "gpu-2-token") == 200  # at once where it was reloaded
        first.clock.advance(2.0)  # WORKER_TOKENS_CACHE_SECONDS
        assert await register(second, "gpu-2", "gpu-2-token") == 200
        assert await register(second, "gpu-1", GPU) == 401


async def test_a_rate_limit_holds_across_gateways(tmp_path: Path) -> None:
    async with two_gateways(settings_for(tmp_path)) as (first, second):  # team_a: 5 calls per 60 s
        for n in range(5):
            gw = first if n % 2 else second
            assert (await gw.http.get("/api/v1/workers", headers=client(A))).status == 200

        refused = [await gw.http.get("/api/v1/workers", headers=client(A)) for gw in (first, second)]

        assert [r.status for r in refused] == [429, 429]
        assert all(r.headers["Retry-After"] == "12" for r in refused)


async def test_a_quota_holds_across_gateways(tmp_path: Path) -> None:
    async with two_gateways(settings_for(tmp_path, rate_limiting_enabled=False)) as (first, second):
        accepted = await first.http.post("/api/v1/jobs/tiny", headers=client(CAPPED), json={})
        refused = await second.http.post("/api/v1/jobs/tiny", headers=client(CAPPED), json={})

        assert accepted.status == 202
        assert refused.status == 429 and "max_running_jobs" in (await refused.json())["error"]
