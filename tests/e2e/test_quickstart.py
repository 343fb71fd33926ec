"""The README's quick start, as a newcomer runs it: ``avtomat up`` with no configuration, the
demo worker with the tokens it printed, a job on the demo blueprint."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import ROOT
from transport.app.processes import Process, free_port

pytestmark = pytest.mark.e2e

AVTOMAT = Path(sys.executable).with_name("avtomat")
# The quick start runs with no configuration: no tokens, the bundled blueprints, the embedded runtime.
UNSET = {"CLIENT_TOKEN", "GLOBAL_WORKER_TOKEN", "ORCHESTRATOR_SECRET_KEY"}
UNSET |= {"BLUEPRINTS_DIR", "RABBITMQ_URL", "REDIS_URL"}
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in UNSET}


LAST_BANNER_LINE = "Set them in the environment"


def read_banner(proc: Process, timeout: float = 20.0) -> dict[str, str]:
    """Wait for ``avtomat up``'s banner, to its last line; returns its KEY=value lines, and the
    whole banner under ``""``."""
    proc.wait_line(LAST_BANNER_LINE, timeout)
    output = proc.output()
    found: dict[str, str] = {"": output}
    for line in output.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isupper():
            found[key] = value
    return found


@pytest.fixture
def avtomat_up(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {**CLEAN_ENV, "API_PORT": str(port)}
    proc = Process([str(AVTOMAT), "up"], env, tmp_path / "avtomat-up.log", cwd=ROOT).start()
    try:
        yield f"http://127.0.0.1:{port}", read_banner(proc)
    finally:
        code = proc.stop()
    assert code == 0, proc.output()


@pytest.fixture
def demo_worker(avtomat_up: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[None]:
    url, banner = avtomat_up
    worker_env = {
        **CLEAN_ENV,
        "WORKER_ID": "demo-worker-1",
        "WORKER_TOKEN": banner["GLOBAL_WORKER_TOKEN"],
        "ORCHESTRATOR_SECRET_KEY": banner["ORCHESTRATOR_SECRET_KEY"],
        "ORCHESTRATOR_URL": url,
        "TASK_POLL_TIMEOUT": "2",
        "IDLE_POLL_DELAY": "0.05",
    }
    argv = [sys.executable, "blueprints/workers/demo_worker.py"]
    with Process(argv, worker_env, tmp_path / "demo-worker.log", cwd=ROOT):
        yield


def test_bad_setting_stops_start_up_naming_the_variable() -> None:
    result = subprocess.run(
        [str(AVTOMAT), "up"],
        cwd=ROOT,
        env={**CLEAN_ENV, "API_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "API_PORT" in result.stderr
    assert "eighty" in result.stderr


async def test_quick_start_demo_job_finishes(avtomat_up: tuple[str, dict[str, str]], demo_worker: None) -> None:
    url, banner = avtomat_up
    assert "Generated for this run" in banner[""]
    assert f"{url}/api/v1/jobs/demo" in banner[""]
    headers = {"X-Client-Token": banner["CLIENT_TOKEN"]}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/api/v1/jobs/demo", json={"initial_data": {"name": "Ada"}}) as resp:
            assert resp.status == 202
            job_id = (await resp.json())["job_id"]
        deadline = time.monotonic() + 20
        while True:
            async with http.get(f"{url}/api/v1/jobs/{job_id}") as resp:
                state = await resp.json()
            if state["status"] not in {"pending", "running", "waiting_for_worker"}:
                break
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.05)
    assert state["status"] == "finished", state
    assert state["current_state"] == "greeted"
    assert state["result"] == {"greeting": "Hello, Ada!"}
