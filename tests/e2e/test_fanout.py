"""Fan-out / fan-in end to end, on both runtimes, with the unmodified avtomatika-worker SDK:
the seed README's example with 10 branches, a branch whose worker rejects its input, and a job
cancelled while its branches run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.client import Client, wait_for_file

pytestmark = pytest.mark.e2e


async def test_the_seed_fan_out_example_aggregates_all_ten_results(client: Client, sdk_worker: str) -> None:
    files = [f"file-{n:02d}.txt" for n in range(10)]

    state = await client.wait(await client.submit("fanout", {"initial_data": {"files": files}}))

    assert state["status"] == "finished", state
    assert state["current_state"] == "processing_complete"
    summary = state["result"]["summary"]
    assert sorted(item["file"] for item in summary) == files
    assert all(item["length"] == len(item["file"]) for item in summary)
    assert state["result"]["complete"] is True


async def test_a_rejected_branch_is_reported_to_the_aggregator_not_a_stuck_job(client: Client, sdk_worker: str) -> None:
    texts = ["a", "b", "c"]

    state = await client.wait(await client.submit("fanout_partial", {"initial_data": {"texts": texts}}))

    assert state["status"] == "finished", state
    assert state["current_state"] == "reported"
    assert state["result"]["echoed"] == texts
    [error] = state["result"]["errors"]
    assert error["code"] == "INVALID_INPUT_ERROR"
    assert "the input is unusable" in error["message"]


async def test_cancel_during_fan_out_stops_the_branches_and_stays_cancelled(
    client: Client, sdk_worker: str, marker_dir: Path
) -> None:
    job_id = await client.submit("fanout_slow", {"initial_data": {"branches": 3}})
    await wait_for_file(marker_dir / f"started-{job_id}")
    assert (await client.job(job_id))["status"] == "waiting_for_parallel_tasks"

    await client.cancel(job_id)

    assert (await client.wait(job_id))["status"] == "cancelled"
    await wait_for_file(marker_dir / f"cancelled-{job_id}")  # the worker was told in a heartbeat answer
    # The SDK now reports the cancelled branches; nothing signals that they were refused, so give
    # them a moment to arrive, then check they changed nothing.
    await asyncio.sleep(1.0)
    state = await client.job(job_id)
    assert state["status"] == "cancelled"
    assert state["current_state"] == "woke"
