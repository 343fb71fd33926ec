"""The archive on both runtimes, wired as ``avtomat up`` wires it: jobs run, the node's archiver
copies them to PostgreSQL, and the gateway lists them from it and serves a job and its history
from it once the store's copy has gone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from engine.registry import BlueprintRegistry
from tests.blueprints import tiny_blueprint
from tests.conformance.rabbitmq_case import fresh_prefix
from tests.e2e.servers import _check_servers, _purge
from tests.support.postgres import fresh_schema
from tests.support.servers import RABBITMQ_URL, REDIS_URL
from tests.support.waiting import eventually
from transport import keys
from transport.app.settings import Settings
from transport.app.wiring import Runtime, runtime

TOKEN = {"X-Client-Token": "archive-client"}
JOBS = 12


def settings(url: str, **env: str) -> Settings:
    base = {"CLIENT_TOKEN": "archive-client", "GLOBAL_WORKER_TOKEN": "w", "ORCHESTRATOR_SECRET_KEY": "s"}
    # These tests submit and read as fast as they can: the rate limiter is not what they test.
    base["RATE_LIMITING_ENABLED"] = "false"
    return Settings.from_env({**base, "API_PORT": "0", "HISTORY_DATABASE_URI": url, **env})


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[Runtime]:
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    async with fresh_schema() as url:
        if kind == "embedded":
            async with runtime(settings(url), registry, schedules=()) as rt:
                yield rt
            return
        namespace = fresh_prefix()
        await _check_servers()  # RabbitMQ and Redis: skip locally, fail in CI
        env = {"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL, "AVTOMAT_NAMESPACE": namespace}
        try:
            async with runtime(settings(url, **env), registry, schedules=()) as rt:
                yield rt
        finally:
            await _purge(namespace)


async def _submit_and_finish(rt: Runtime, http: aiohttp.ClientSession) -> list[str]:
    ids = []
    for _ in range(JOBS):
        async with http.post(f"{rt.url}/api/v1/jobs/tiny", json={"initial_data": {}}, headers=TOKEN) as resp:
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["job_id"])

    async def archived() -> bool:
        async with http.get(f"{rt.url}/api/v1/jobs?status=finished&limit=1000", headers=TOKEN) as resp:
            return resp.status == 200 and len(await resp.json()) == JOBS

    await eventually(archived, "every job finished and archived", timeout=20.0)
    return ids


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url, headers=TOKEN) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.mark.parametrize("kind", ["embedded", "distributed"])
async def test_jobs_are_archived_and_listed_page_by_page(kind: str) -> None:
    async with running(kind) as rt, aiohttp.ClientSession() as http:
        ids = await _submit_and_finish(rt, http)
        assert rt.feed is not None
        await eventually(lambda: _empty(rt), "the feed emptied")

        listed, cursor = [], ""
        while True:
            async with http.get(f"{rt.url}/api/v1/jobs?limit=5{cursor}", headers=TOKEN) as resp:
                page = await resp.json()
                listed += [job["id"] for job in page]
                if "X-Next-Cursor" not in resp.headers:
                    break
                cursor = "&cursor=" + resp.headers["X-Next-Cursor"]
        history = await _get(http, f"{rt.url}/api/v1/jobs/{ids[0]}/history")

    assert sorted(listed) == sorted(ids) and len(listed) == JOBS
    assert history[0]["event"] == "job_started"


async def _empty(rt: Runtime) -> bool:
    assert rt.feed is not None
    return await rt.feed.length() == 0


async def test_a_job_whose_redis_copy_has_gone_is_served_from_the_archive() -> None:
    async with running("distributed") as rt, aiohttp.ClientSession() as http:
        ids = await _submit_and_finish(rt, http)
        await eventually(lambda: _empty(rt), "the feed emptied")
        before = await _get(http, f"{rt.url}/api/v1/jobs/{ids[0]}")
        history_before = await _get(http, f"{rt.url}/api/v1/jobs/{ids[0]}/history")

        prefix = rt.settings.namespace
        redis = Redis.from_url(REDIS_URL)
        try:
            gone = await redis.delete(*(f(prefix, i) for i in ids for f in (keys.job, keys.history, keys.progress)))
        finally:
            await redis.aclose()
        assert gone >= JOBS * 2  # every job and its history (progress only where a worker reported one)

        after = await _get(http, f"{rt.url}/api/v1/jobs/{ids[0]}")
        history_after = await _get(http, f"{rt.url}/api/v1/jobs/{ids[0]}/history")

    assert after == before
    assert history_after == history_before
