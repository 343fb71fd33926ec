"""clients.toml, workers.toml and rate limits with real processes: an SDK worker with its own
token (signing with it) runs a job whose handler sees the client's plan and params; another
client cannot see that job; rate limiting stays on throughout, on both runtimes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker

pytestmark = pytest.mark.e2e

OWN_TOKEN = "own-worker-secret"
CLIENTS = """
[team_a]
token = "team-a-secret"
plan = "premium"
rate_limit = 100000          # the test reads job states in a loop
[team_a.params]
tier = 3

[team_b]
token = "team-b-secret"

[ops]
token = "ops-secret"
admin = true
"""
WORKERS = f"""
[e2e-own-1]
token_sha256 = "{hashlib.sha256(OWN_TOKEN.encode()).hexdigest()}"
skills = ["echo"]
"""


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    files = tmp_path_factory.mktemp("tenancy")
    (files / "clients.toml").write_text(CLIENTS)
    (files / "workers.toml").write_text(WORKERS)
    yield from launch(
        request.param,
        tmp_path_factory,
        CLIENTS_CONFIG_PATH=str(files / "clients.toml"),
        WORKERS_CONFIG_PATH=str(files / "workers.toml"),
        RATE_LIMITING_ENABLED="true",
    )


@pytest.fixture(scope="module")
def own_worker(orchestrator: Orchestrator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    markers = tmp_path_factory.mktemp("markers")
    # Heartbeats at a normal pace (the end-to-end default of 0.5 s is 120 a minute, the limit itself).
    settings = {"WORKER_TOKEN": OWN_TOKEN, "HEARTBEAT_INTERVAL": "5"}
    with start_sdk_worker(orchestrator, "e2e-own-1", markers, tmp_path_factory, **settings):
        yield "e2e-own-1"


@pytest.fixture
async def team_a(orchestrator: Orchestrator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(headers={"X-Client-Token": "team-a-secret"}) as http:
        yield Client(orchestrator, http)


async def test_a_worker_with_its_own_token_runs_a_job_that_sees_its_clients_plan(
    orchestrator: Orchestrator, team_a: Client, own_worker: str
) -> None:
    job_id = await team_a.submit("plans", {"initial_data": {}})

    state = await team_a.wait(job_id)

    assert state["status"] == "finished", state
    assert state["result"]["echo"] == "team_a:premium:3"
    assert state["result"]["worker"] == own_worker
    async with (
        aiohttp.ClientSession(headers={"X-Client-Token": "team-b-secret"}) as other,
        other.get(f"{orchestrator.url}/api/v1/jobs/{job_id}") as resp,
    ):
        assert resp.status == 404


async def test_a_busy_worker_is_not_slowed_by_the_default_poll_limit(team_a: Client, own_worker: str) -> None:
    """The SDK polls once per task: 90 tasks in a row are 90 polls, over the default 60 a
    minute. Were they counted, the 61st poll would be refused and the SDK would back off for at
    least its RATE_LIMIT_BACKOFF_FLOOR (30 s)."""
    started = time.monotonic()
    ids = await asyncio.gather(*(team_a.submit("plans", {"initial_data": {}}) for _ in range(90)))
    states = await asyncio.gather(*(team_a.wait(job_id, timeout=25.0) for job_id in ids))

    assert [s["status"] for s in states] == ["finished"] * 90
    assert time.monotonic() - started < 25.0


async def test_the_admin_reloads_the_workers_and_no_one_else(orchestrator: Orchestrator) -> None:
    url = f"{orchestrator.url}/api/v1/admin/reload-workers"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, headers={"X-Client-Token": "team-a-secret"}) as refused:
            assert refused.status == 403
        async with http.post(url, headers={"X-Client-Token": "ops-secret"}) as done:
            assert done.status == 200, await done.text()
            assert (await done.json())["workers"] == 1
