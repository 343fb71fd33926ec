"""Worker progress (the SDK's ``send_progress``) shows in ``GET /api/v1/jobs/{job_id}`` as
``progress`` and ``progress_message``, on both runtimes, while the task runs and after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Orchestrator
from tests.e2e.test_jobs import TERMINAL, Client

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(orchestrator: Orchestrator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(headers=orchestrator.client_headers) as http:
        yield Client(orchestrator, http)


async def poll_until(
    client: Client, job_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> dict[str, Any]:
    """Read the job, as a client would, until ``condition`` holds for what GET answers."""
    deadline = time.monotonic() + timeout
    while True:
        state = await client.job(job_id)
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"condition never held; last seen {state}"
        await asyncio.sleep(0.05)


async def test_progress_shows_while_the_worker_runs_the_task(client: Client, sdk_worker: str) -> None:
    job_id = await client.submit("slow", {"initial_data": {}})  # the sleepy skill: 0.1 "sleeping", then 30 s
    try:
        state = await poll_until(client, job_id, lambda s: s["progress"] is not None or s["status"] in TERMINAL)

        assert state["status"] == "waiting_for_worker", state  # as upstream: until the worker's result
        assert state["progress"] == 0.1
        assert state["progress_message"] == "sleeping"
    finally:
        await client.cancel(job_id)
    assert (await client.wait(job_id))["status"] == "cancelled"


async def test_the_last_progress_stays_on_the_finished_job(client: Client, sdk_worker: str) -> None:
    job_id = await client.submit("branch", {"initial_data": {"side": "left", "text": "hi"}})  # echo: 0.5 "echoing"

    state = await client.wait(job_id)

    assert state["status"] == "finished", state
    assert (state["progress"], state["progress_message"]) == (0.5, "echoing")
