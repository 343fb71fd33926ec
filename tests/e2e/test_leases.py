"""Task leases end to end, on both runtimes: an SDK worker killed with SIGKILL in the middle of a
task loses it to another worker once its lease runs out; that worker's heartbeats keep the task
its own for longer than a lease.

avtomat runs here with ``TASK_LEASE_SECONDS=2`` and the workers heartbeat every 0.3 s (the SDK's
debounce cooldown lowered to match), so a lease is missed only by a dead worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client import Client, wait_for_file
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 2.0
TASK_SECONDS = 4.0  # two lease periods: only heartbeats can keep the task with its worker that long
HEARTBEATS = {"HEARTBEAT_INTERVAL": "0.3", "WORKER_HEARTBEAT_COOLDOWN": "0.2"}


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    yield from launch(request.param, tmp_path_factory, TASK_LEASE_SECONDS=str(LEASE_SECONDS))


async def test_a_killed_workers_task_goes_to_another_worker_after_its_lease(
    client: Client, orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # a day-long result timeout: if the job recovers, the lease did it
    body = {"initial_data": {"seconds": TASK_SECONDS}, "result_timeout": 24 * 3600}
    job_id = await client.submit("lease", body)
    doomed = start_sdk_worker(orchestrator, "e2e-lease-doomed", marker_dir, tmp_path_factory, **HEARTBEATS)
    try:
        await wait_for_file(marker_dir / f"started-{job_id}-e2e-lease-doomed")
        doomed.kill()  # SIGKILL: no goodbye, no result, no more heartbeats
    finally:
        doomed.stop()
    killed_at = time.monotonic()

    heir = start_sdk_worker(orchestrator, "e2e-lease-heir", marker_dir, tmp_path_factory, **HEARTBEATS)
    try:
        state = await client.wait(job_id, timeout=30)
    finally:
        heir.stop()
    recovered_in = time.monotonic() - killed_at

    assert state["status"] == "finished", state
    assert state["current_state"] == "worked"
    assert state["result"]["worker"] == "e2e-lease-heir"
    assert (marker_dir / f"started-{job_id}-e2e-lease-heir").exists()
    # the lease (2 s), a sweep (<= 1 s), the heir's start-up and its 4 s of work; far from a day
    assert TASK_SECONDS < recovered_in < 20, recovered_in
