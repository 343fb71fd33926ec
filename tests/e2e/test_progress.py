"""Worker progress (the SDK's ``send_progress``) shows in ``GET /api/v1/jobs/{job_id}`` as
``progress`` and ``progress_message``, on both runtimes, while the task runs and after."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.client import TERMINAL, Client

pytestmark = pytest.mark.e2e


def progressed(state: dict[str, Any]) -> bool:
    return state["progress"] is not None or state["status"] in TERMINAL


async def test_progress_shows_while_the_worker_runs_the_task(client: Client, sdk_worker: str) -> None:
    job_id = await client.submit("slow", {"initial_data": {}})  # the sleepy skill: 0.1 "sleeping", then 30 s
    try:
        state = await client.until(job_id, progressed, "showed progress")

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
