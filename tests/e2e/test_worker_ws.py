"""Cancellation over the RXON WebSocket, end to end on both runtimes: an unmodified SDK worker
with ``WORKER_ENABLE_WEBSOCKETS=true`` is told at once to stop the task of a cancelled job, of a
cancelled fan-out's branches, and of the child of a cancelled parent.

Heartbeats are kept out of it: the worker heartbeats every 60 s and its debounced heartbeats (on
each task start and finish) at most every 120 s, so after its first heartbeat only the WebSocket
can tell it anything for two minutes; each test wants the worker's ``cancelled-{job_id}`` marker
within ``FAST`` seconds of the cancel. avtomat keeps the worker registered for that long
(``WORKER_HEALTH_CHECK_INTERVAL_SECONDS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client import Client, wait_for_file
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker

pytestmark = pytest.mark.e2e

FAST = 5.0  # seconds from the cancel to the worker's task being cancelled; a heartbeat would take 60+
QUIET_HEARTBEATS = {"HEARTBEAT_INTERVAL": "60", "WORKER_HEARTBEAT_COOLDOWN": "120"}


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    yield from launch(request.param, tmp_path_factory, WORKER_HEALTH_CHECK_INTERVAL_SECONDS="300")


@pytest.fixture(scope="module")
def ws_worker(orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SDK worker with the WebSocket on and heartbeats out of the way; yields its id."""
    worker_id = "e2e-ws-worker"
    settings = {"WORKER_ENABLE_WEBSOCKETS": "true", **QUIET_HEARTBEATS}
    proc = start_sdk_worker(orchestrator, worker_id, marker_dir, tmp_path_factory, **settings)
    try:
        yield worker_id
    finally:
        proc.stop()


async def test_cancelling_a_job_reaches_its_worker_over_the_websocket(
    client: Client, ws_worker: str, marker_dir: Path
) -> None:
    job_id = await client.submit("slow", {"initial_data": {}})
    await wait_for_file(marker_dir / f"started-{job_id}")

    await client.cancel(job_id)

    await wait_for_file(marker_dir / f"cancelled-{job_id}", timeout=FAST)
    assert (await client.wait(job_id))["status"] == "cancelled"


async def test_cancelling_a_fan_out_reaches_the_worker_running_its_branches(
    client: Client, ws_worker: str, marker_dir: Path
) -> None:
    job_id = await client.submit("fanout_slow", {"initial_data": {"branches": 3}})
    await wait_for_file(marker_dir / f"started-{job_id}")

    await client.cancel(job_id)

    await wait_for_file(marker_dir / f"cancelled-{job_id}", timeout=FAST)
    assert (await client.wait(job_id))["status"] == "cancelled"


async def test_cancelling_a_parent_reaches_the_worker_running_its_child(
    client: Client, ws_worker: str, marker_dir: Path
) -> None:
    parent_id = await client.submit("parent", {"initial_data": {"seconds": 30}})
    child_id = (await client.reach(parent_id, "waiting_for_sub_job"))["child_job_id"]
    await wait_for_file(marker_dir / f"started-{child_id}")

    await client.cancel(parent_id)

    await wait_for_file(marker_dir / f"cancelled-{child_id}", timeout=FAST)
    assert (await client.wait(child_id))["status"] == "cancelled"
