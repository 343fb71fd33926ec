"""Real avtomatika-worker SDK workers, as processes, for the workloads that need them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench import procs
from bench.targets import Target

WORKER_APP = Path(__file__).resolve().parent / "sdk_worker.py"

# Short poll and idle settings so a worker asks for its next task at once.
SDK_SETTINGS = {
    "HEARTBEAT_INTERVAL": "5",
    "TASK_POLL_TIMEOUT": "2",
    "IDLE_POLL_DELAY": "0.01",
    "POLL_BACKOFF_INITIAL": "0.05",
    "RESULT_RETRY_INITIAL_DELAY": "0.1",
    "WORKER_SHUTDOWN_TIMEOUT": "2",
    "LOG_LEVEL": "WARNING",
}


@contextlib.contextmanager
def sdk_workers(target: Target, count: int, log_dir: Path, python: str = sys.executable) -> Iterator[list[int]]:
    """``count`` SDK workers against ``target``, registered before this yields their PIDs;
    all stopped on the way out."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            env = {
                **os.environ,
                **SDK_SETTINGS,
                "WORKER_ID": f"bench-worker-{i}",
                "WORKER_TOKEN": target.worker_token,
                "ORCHESTRATOR_URL": target.url,
                "ORCHESTRATOR_SECRET_KEY": target.secret,
            }
            started.append(procs.launch([python, str(WORKER_APP)], env, log_dir / f"worker-{i}.log"))
        _wait_registered(target, count, started, log_dir)
        yield [p.pid for p in started]
    finally:
        for proc in started:
            procs.stop(proc)


def _wait_registered(target: Target, count: int, started: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in started):
            raise RuntimeError(f"an SDK worker exited; logs in {log_dir}")
        if len(_workers(target)) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} SDK workers not registered in 30 s; logs in {log_dir}")


def _workers(target: Target) -> list[object]:
    request = urllib.request.Request(f"{target.url}/api/v1/workers", headers={"X-Client-Token": target.client_token})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return list(json.load(resp))
    except OSError:
        return []
