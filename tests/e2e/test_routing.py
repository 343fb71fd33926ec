"""Routing end to end, on both runtimes: two real SDK workers with the same skill; once one holds
a model hot, every task naming that model runs there, while tasks naming none spread over both.

The SDK reports a hot item in its heartbeats only if a skill of that name is registered, so the
worker app registers a ``model-x`` skill beside ``generate`` (see ``worker_app.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, start_sdk_worker

pytestmark = pytest.mark.e2e

WORKERS = ("e2e-route-a", "e2e-route-b")


@pytest.fixture(scope="module")
def workers(
    orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ...]]:
    procs = [start_sdk_worker(orchestrator, w, marker_dir, tmp_path_factory) for w in WORKERS]
    try:
        yield WORKERS
    finally:
        for proc in procs:
            proc.stop()


async def workers_view(client: Client) -> dict[str, dict[str, Any]]:
    async with client.http.get(f"{client.orch.url}/api/v1/workers") as resp:
        assert resp.status == 200, await resp.text()
        return {w["worker_id"]: w for w in await resp.json()}


async def wait_for_workers(client: Client, what: str, condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition(await workers_view(client)):
        assert time.monotonic() < deadline, f"workers never {what}: {await workers_view(client)}"
        await asyncio.sleep(0.05)


async def run_all(client: Client, bodies: list[dict[str, Any]]) -> list[str]:
    """Submit every job at once; the ids of the workers that ran them, in submission order."""
    job_ids = [await client.submit("generate", {"initial_data": body}) for body in bodies]
    states = await asyncio.gather(*(client.wait(job_id, timeout=30) for job_id in job_ids))
    assert all(s["status"] == "finished" for s in states), states
    return [s["result"]["worker"] for s in states]


async def test_tasks_naming_a_hot_model_run_where_it_is_hot_and_others_spread(
    client: Client, workers: tuple[str, ...]
) -> None:
    await wait_for_workers(client, "registered", lambda view: all(w in view for w in workers))

    [hot] = await run_all(client, [{"model_name": "model-x", "load": True}])
    await wait_for_workers(client, f"saw {hot} hot", lambda view: "model-x" in view[hot]["hot_skills"])

    on_model = await run_all(client, [{"model_name": "model-x", "seconds": 0.3}] * 6)
    # the router counts its reservations as load until a heartbeat sent after them reports the truth
    done_at = time.time()
    beat_idle = lambda view: all(view[w]["last_seen"] > done_at and view[w]["load"] == 0 for w in workers)  # noqa: E731
    await wait_for_workers(client, "reported idle", beat_idle)
    anywhere = await run_all(client, [{"seconds": 1.0}] * 6)

    assert on_model == [hot] * 6
    assert set(anywhere) == set(workers), anywhere
