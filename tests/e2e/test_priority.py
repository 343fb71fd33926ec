"""Task priority end to end, on both runtimes: jobs queued while no worker runs are handed to one
real SDK worker running one task at a time, higher ``dispatch_task(priority=)`` first.

The priorities are two units apart, that is two minutes of aging at the default
``TASK_PRIORITY_AGING_SECONDS`` (60), far more than the submissions take: the order is by priority
alone. Within a priority it is queue order, which on two nodes need not be submission order, so it
is not asserted. Aging itself is covered by the store conformance tests.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, start_sdk_worker

pytestmark = pytest.mark.e2e

PRIORITIES = {"high": 2, "mid": 0, "low": -2}


async def worker_ids(client: Client) -> set[str]:
    async with client.http.get(f"{client.orch.url}/api/v1/workers") as resp:
        assert resp.status == 200, await resp.text()
        return {w["worker_id"] for w in await resp.json()}


async def test_one_worker_takes_queued_tasks_highest_priority_first(
    client: Client, orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = uuid.uuid4().hex[:8]
    worker_id, log = f"e2e-priority-{run}", f"order-{run}"  # the marker dir is shared by both runtimes
    assert await worker_ids(client) == set()  # no other worker could take these tasks
    labels = [f"{level}-{i}" for i in range(3) for level in ("low", "high", "mid")]  # submitted interleaved
    job_ids = []
    for label in labels:
        body = {"initial_data": {"label": label, "log": log, "priority": PRIORITIES[label.split("-")[0]]}}
        job_ids.append(await client.submit("priority", body))
    # Each job's task is dispatched: the job committed it, and its node's router queues it next.
    waiting = [client.reach(job_id, "waiting_for_worker") for job_id in job_ids]
    await asyncio.gather(*waiting)

    proc = start_sdk_worker(orchestrator, worker_id, marker_dir, tmp_path_factory, E2E_MAX_CONCURRENT_TASKS="1")
    try:
        states = await asyncio.gather(*(client.wait(job_id, timeout=30) for job_id in job_ids))
        assert await worker_ids(client) == {worker_id}
    finally:
        proc.stop()

    assert [(s["status"], s["result"]["worker"]) for s in states] == [("finished", worker_id)] * len(labels)
    ran = (marker_dir / log).read_text().split()
    assert sorted(ran) == sorted(labels)  # each task ran once
    assert [label.split("-")[0] for label in ran] == ["high"] * 3 + ["mid"] * 3 + ["low"] * 3, ran


async def test_a_priority_that_is_not_a_number_fails_the_job_naming_it(client: Client) -> None:
    body = {"initial_data": {"label": "bad", "log": "unused", "priority": "urgent"}}
    state = await client.wait(await client.submit("priority", body))

    assert state["status"] == "failed"
    assert "dispatch_task: priority must be a number, got 'urgent'" in state["error"]
