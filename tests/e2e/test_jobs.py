"""Jobs run end to end: ``avtomat up`` in a subprocess, the unmodified avtomatika-worker SDK in
another, everything over HTTP exactly as users run it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Orchestrator

pytestmark = pytest.mark.e2e

TERMINAL = {"finished", "failed", "quarantined", "cancelled"}


async def submit(orch: Orchestrator, path: str, body: dict[str, Any]) -> str:
    async with aiohttp.ClientSession(headers=orch.client_headers) as http:
        async with http.post(f"{orch.url}/api/v1/jobs/{path}", json=body) as resp:
            assert resp.status == 202, await resp.text()
            reply = await resp.json()
    assert reply["status"] == "accepted"
    return str(reply["job_id"])


async def job(orch: Orchestrator, job_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=orch.client_headers) as http:
        async with http.get(f"{orch.url}/api/v1/jobs/{job_id}") as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


async def wait_until(orch: Orchestrator, job_id: str, statuses: set[str], timeout: float = 20.0) -> dict[str, Any]:
    """Poll the job over HTTP, as a client would, until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        state = await job(orch, job_id)
        if state["status"] in statuses:
            return state
        assert time.monotonic() < deadline, f"job stuck in {state}"
        await asyncio.sleep(0.05)


async def wait_for_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.05)


async def test_worker_output_lands_in_result(orchestrator: Orchestrator, sdk_worker: str) -> None:
    job_id = await submit(orchestrator, "branch", {"initial_data": {"side": "left", "text": "hello"}})
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert state["status"] == "finished", state
    assert state["current_state"] == "done"
    assert state["result"]["echo"] == "hello"
    assert state["result"]["worker"] == sdk_worker
    assert state["result"]["completed"] is True
    assert state["progress"] == 0.5


async def test_when_branch_skips_the_worker(orchestrator: Orchestrator) -> None:
    job_id = await submit(orchestrator, "branch", {"initial_data": {"side": "left", "skip": True, "text": "x"}})
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert state["status"] == "finished"
    assert state["result"] == {"side": "right", "completed": True}


async def test_many_jobs_all_finish(orchestrator: Orchestrator, sdk_worker: str) -> None:
    ids = await asyncio.gather(
        *(submit(orchestrator, "branch", {"initial_data": {"side": "left", "text": f"t{i}"}}) for i in range(30))
    )
    states = await asyncio.gather(*(wait_until(orchestrator, i, TERMINAL) for i in ids))
    assert [s["status"] for s in states] == ["finished"] * 30
    assert sorted(s["result"]["echo"] for s in states) == sorted(f"t{i}" for i in range(30))


async def test_invalid_input_from_worker_fails_the_job(orchestrator: Orchestrator, sdk_worker: str) -> None:
    job_id = await submit(orchestrator, "errors", {"initial_data": {"skill": "reject"}})
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert state["status"] == "failed"
    assert "INVALID_INPUT_ERROR" in state["error"]
    assert "the input is unusable" in state["error"]


async def test_worker_exception_is_retried_then_takes_failure_transition(
    orchestrator: Orchestrator, sdk_worker: str
) -> None:
    job_id = await submit(orchestrator, "errors", {"initial_data": {"skill": "explode"}})
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert state["status"] == "finished"
    assert state["current_state"] == "recovered"
    assert state["result"]["recovered"] is True


async def test_no_capable_worker_fails_at_dispatch_timeout(orchestrator: Orchestrator, sdk_worker: str) -> None:
    started = time.monotonic()
    job_id = await submit(orchestrator, "orphan", {"initial_data": {}, "dispatch_timeout": 1})
    waiting = await job(orchestrator, job_id)
    assert waiting["status"] in {"pending", "running", "waiting_for_worker"}
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert time.monotonic() - started >= 1.0
    assert state["status"] == "failed"
    assert "nobody_has_this_skill" in state["error"]


async def test_cancel_reaches_the_worker_running_the_task(
    orchestrator: Orchestrator, sdk_worker: str, marker_dir: Path
) -> None:
    job_id = await submit(orchestrator, "slow", {"initial_data": {}})
    await wait_for_file(marker_dir / f"started-{job_id}")
    async with aiohttp.ClientSession(headers=orchestrator.client_headers) as http:
        async with http.post(f"{orchestrator.url}/api/v1/jobs/{job_id}/cancel") as resp:
            assert resp.status == 200, await resp.text()
    state = await wait_until(orchestrator, job_id, TERMINAL)
    assert state["status"] == "cancelled"
    await wait_for_file(marker_dir / f"cancelled-{job_id}")
    assert (await job(orchestrator, job_id))["status"] == "cancelled"
