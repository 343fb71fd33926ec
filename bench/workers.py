"""Workers, as processes, for the workloads that need them: real avtomatika-worker SDK workers,
or the raw-HTTP RXON worker (``bench/raw_worker.py``) that shows the orchestrator's own ceiling.

Every worker appends a line per skill invocation to ``executions-<kind>-<i>.log`` in the run's
log directory; ``count_executions`` reads them back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.measure import Executions
from bench.targets import Target
from transport.app.processes import Process

WORKER_APP = Path(__file__).resolve().parent / "sdk_worker.py"
RAW_WORKER_APP = Path(__file__).resolve().parent / "raw_worker.py"
WORKER_KINDS = ("sdk", "raw")

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


def sdk_workers(
    target: Target, count: int, log_dir: Path, python: str = sys.executable
) -> contextlib.AbstractContextManager[list[int]]:
    """``count`` SDK workers against ``target``, registered before this yields their PIDs;
    all stopped on the way out."""
    envs = [
        {
            **SDK_SETTINGS,
            "WORKER_ID": f"bench-worker-{i}",
            "WORKER_TOKEN": target.worker_token,
            "ORCHESTRATOR_URL": target.url,
            "ORCHESTRATOR_SECRET_KEY": target.secret,
            "BENCH_EXECUTIONS_FILE": str(log_dir / f"executions-sdk-{i}.log"),
        }
        for i in range(count)
    ]
    logs = [log_dir / f"worker-{i}.log" for i in range(count)]
    return _running(target, [python, str(WORKER_APP)], envs, logs, log_dir)


def raw_workers(
    target: Target, count: int, log_dir: Path, pollers: int = 16
) -> contextlib.AbstractContextManager[list[int]]:
    """``count`` raw RXON worker processes of ``pollers`` concurrent long-polls each, registered
    before this yields their PIDs; all stopped on the way out. They run in this venv (aiohttp, rxon)."""
    envs = [
        {
            "WORKER_ID": f"bench-raw-{i}",
            "WORKER_TOKEN": target.worker_token,
            "ORCHESTRATOR_URL": target.url,
            "RAW_POLLERS": str(pollers),
            "TASK_POLL_TIMEOUT": SDK_SETTINGS["TASK_POLL_TIMEOUT"],
            "BENCH_EXECUTIONS_FILE": str(log_dir / f"executions-raw-{i}.log"),
        }
        for i in range(count)
    ]
    logs = [log_dir / f"raw-worker-{i}.log" for i in range(count)]
    return _running(target, [sys.executable, str(RAW_WORKER_APP)], envs, logs, log_dir)


@contextlib.contextmanager
def _running(
    target: Target, command: list[str], envs: list[dict[str, str]], logs: list[Path], log_dir: Path
) -> Iterator[list[int]]:
    """One ``command`` process per environment (over this process's own), each logging to its
    log; registered with ``target`` before this yields their PIDs; all stopped on the way out."""
    started: list[Process] = []
    try:
        for env, log in zip(envs, logs, strict=True):
            started.append(Process(command, {**os.environ, **env}, log).start())
        _wait_registered(target, len(envs), started, log_dir)
        yield [p.pid for p in started]
    finally:
        for proc in started:
            proc.stop()


def count_executions(log_dir: Path, job_ids: Iterable[str]) -> Executions:
    """Skill invocations logged under ``log_dir`` for ``job_ids``, and how many of them repeated a
    (job id, params "n") already run: a task retried or delivered twice. Call it once the jobs are
    over; a worker still running a task then has logged it already (it logs as the skill starts)."""
    wanted = set(job_ids)
    runs: Counter[tuple[str, str]] = Counter()
    for path in sorted(log_dir.glob("executions-*.log")):
        for line in path.read_text().splitlines():
            job_id, _, rest = line.partition(" ")
            if job_id in wanted:
                runs[(job_id, rest.partition(" ")[2])] += 1
    return Executions(count=sum(runs.values()), duplicated=sum(c - 1 for c in runs.values()))


def _wait_registered(target: Target, count: int, started: list[Process], log_dir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not all(p.running for p in started):
            raise RuntimeError(f"a worker exited; logs in {log_dir}")
        if len(_workers(target)) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} workers not registered in 30 s; logs in {log_dir}")


def _workers(target: Target) -> list[object]:
    request = urllib.request.Request(f"{target.url}/api/v1/workers", headers={"X-Client-Token": target.client_token})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return list(json.load(resp))
    except OSError:
        return []
