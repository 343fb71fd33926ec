"""One configuration (target x workload), repeated: a fresh orchestrator and fresh workers per
repeat, a short warm-up, then the measured load between two snapshots. Or, in slices: one
orchestrator, the load run back to back once per slice, a snapshot at every boundary."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench import load
from bench.measure import Executions, RunFigures, Snapshot, figures
from bench.servers import Servers
from bench.targets import Target, TargetFactory
from bench.workers import count_executions, raw_workers, sdk_workers


@dataclass(frozen=True)
class Workload:
    name: str
    path: str  # the blueprint's endpoint under /api/v1/jobs/
    needs_workers: bool
    sleeps: bool = False  # its task sleeps ``Options.long_seconds`` (none in the warm-up)


WORKLOADS = {
    "chain": Workload("chain", "bench_chain", needs_workers=False),
    "echo": Workload("echo", "bench_echo", needs_workers=True),
    "fanout": Workload("fanout", "bench_fanout", needs_workers=True),
    "long": Workload("long", "bench_long", needs_workers=True, sleeps=True),
}
SDK_SLOTS = 10  # max_concurrent_tasks of bench/sdk_worker.py
LONG_SLACK = 60.0  # seconds ``long`` jobs get to finish beyond their sleep


@dataclass(frozen=True)
class Options:
    repeat: int = 3
    workers: int = 2
    concurrency: int = 32
    rate: float | None = None
    warmup: int = 20
    finish_within: float = 60.0
    long_seconds: float = 60.0
    worker_kind: str = "sdk"  # or "raw": bench/raw_worker.py
    raw_pollers: int = 16  # concurrent polls per raw worker process

    def worker_slots(self) -> int:
        """Tasks the workers run at once, at most."""
        return self.workers * (SDK_SLOTS if self.worker_kind == "sdk" else self.raw_pollers)


def run_config(
    factory: TargetFactory,
    workload: Workload,
    jobs: int,
    options: Options,
    servers: Servers,
    log_dir: Path,
) -> list[RunFigures]:
    """``options.repeat`` runs of ``jobs`` jobs of ``workload``; every process stopped after each."""
    results = []
    for repeat in range(options.repeat):
        run_dir = log_dir / f"{workload.name}-{repeat}"
        with factory(run_dir, servers) as target, _workers_for(workload, target, options, run_dir) as worker_pids:
            _warm_up(workload, target, options)
            used = servers if target.uses_servers else None
            before = _snapshot(target, worker_pids, used)
            outcome = asyncio.run(load.run(target.url, target.client_token, _plan(workload, jobs, options)))
            after = _snapshot(target, worker_pids, used)
            executions = _executions(workload, outcome, run_dir)
            results.append(figures(jobs, outcome, before, after, target.pids, executions))
    return results


def run_slices(
    factory: TargetFactory,
    workload: Workload,
    jobs: int,
    slices: int,
    options: Options,
    servers: Servers,
    log_dir: Path,
) -> tuple[RunFigures, list[RunFigures]]:
    """One run of ``jobs`` jobs as ``slices`` consecutive loads of ``jobs // slices`` against the same
    orchestrator, no restart in between: the figures of the whole, and of each slice (CPU and RSS
    read at its boundaries), to see whether the cost per job grows as finished jobs accumulate."""
    size = jobs // slices
    run_dir = log_dir / f"{workload.name}-slices"
    per_slice: list[RunFigures] = []
    outcomes: list[load.Outcome] = []
    with factory(run_dir, servers) as target, _workers_for(workload, target, options, run_dir) as worker_pids:
        _warm_up(workload, target, options)
        used = servers if target.uses_servers else None
        first = before = _snapshot(target, worker_pids, used)
        for _ in range(slices):
            outcome = asyncio.run(load.run(target.url, target.client_token, _plan(workload, size, options)))
            after = _snapshot(target, worker_pids, used)
            per_slice.append(
                figures(size, outcome, before, after, target.pids, _executions(workload, outcome, run_dir))
            )
            outcomes.append(outcome)
            before = after
        whole = load.Outcome.combined(outcomes)
        executions = _executions(workload, whole, run_dir)
        return figures(size * slices, whole, first, before, target.pids, executions), per_slice


def _plan(workload: Workload, jobs: int, options: Options, *, warm_up: bool = False) -> load.Plan:
    initial_data: dict[str, object] = {}
    finish_within = options.finish_within
    if workload.sleeps:
        initial_data["seconds"] = 0.0 if warm_up else options.long_seconds
        finish_within = max(finish_within, options.long_seconds + LONG_SLACK)
    rate = None if warm_up else options.rate
    return load.Plan(workload.path, jobs, options.concurrency, rate, finish_within, initial_data)


def _warm_up(workload: Workload, target: Target, options: Options) -> None:
    if options.warmup:
        plan = _plan(workload, options.warmup, options, warm_up=True)
        asyncio.run(load.run(target.url, target.client_token, plan))


def _executions(workload: Workload, outcome: load.Outcome, run_dir: Path) -> Executions | None:
    if not workload.needs_workers:
        return None
    return count_executions(run_dir, (job_id for job_id, _ in outcome.submitted))


def _snapshot(target: Target, worker_pids: list[int], servers: Servers | None) -> Snapshot:
    """CPU so far; RabbitMQ's only for a target that uses it (else its figure would be idle noise),
    PostgreSQL's only when ``HISTORY_DATABASE_URI`` gives the run an archive."""
    archive_db = urllib.parse.urlsplit(os.environ.get("HISTORY_DATABASE_URI", "")).path.lstrip("/") or None
    snapshot = Snapshot.take(target.pids, worker_pids, servers, archive_db)
    return snapshot if target.uses_rabbitmq else dataclasses.replace(snapshot, rabbitmq=None)


def _workers_for(
    workload: Workload, target: Target, options: Options, log_dir: Path
) -> contextlib.AbstractContextManager[list[int]]:
    if not workload.needs_workers:
        return contextlib.nullcontext([])
    if options.worker_kind == "raw":
        return raw_workers(target, options.workers, log_dir, options.raw_pollers)
    return sdk_workers(target, options.workers, log_dir)
