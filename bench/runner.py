"""One configuration (target x workload), repeated: a fresh orchestrator and fresh workers per
repeat, a short warm-up, then the measured load between two snapshots."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench import load
from bench.measure import RunFigures, Snapshot, figures
from bench.servers import Servers
from bench.targets import Target, TargetFactory
from bench.workers import sdk_workers


@dataclass(frozen=True)
class Workload:
    name: str
    path: str  # the blueprint's endpoint under /api/v1/jobs/
    needs_workers: bool


WORKLOADS = {
    "chain": Workload("chain", "bench_chain", needs_workers=False),
    "echo": Workload("echo", "bench_echo", needs_workers=True),
    "fanout": Workload("fanout", "bench_fanout", needs_workers=True),
}


@dataclass(frozen=True)
class Options:
    repeat: int = 3
    workers: int = 2
    concurrency: int = 32
    rate: float | None = None
    warmup: int = 20
    finish_within: float = 60.0


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
            if options.warmup:
                warm = load.Plan(workload.path, options.warmup, options.concurrency, None, options.finish_within)
                asyncio.run(load.run(target.url, target.client_token, warm))
            plan = load.Plan(workload.path, jobs, options.concurrency, options.rate, options.finish_within)
            used = servers if target.uses_servers else None
            before = Snapshot.take(target.pids, worker_pids, used)
            outcome = asyncio.run(load.run(target.url, target.client_token, plan))
            after = Snapshot.take(target.pids, worker_pids, used)
            results.append(figures(jobs, outcome, before, after, target.pids))
    return results


def _workers_for(
    workload: Workload, target: Target, options: Options, log_dir: Path
) -> contextlib.AbstractContextManager[list[int]]:
    if not workload.needs_workers:
        return contextlib.nullcontext([])
    return sdk_workers(target, options.workers, log_dir)
