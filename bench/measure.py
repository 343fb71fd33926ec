"""The figures of one run: load outcome plus CPU and memory read from ``/proc`` and the servers;
and a calibration of the machine's speed, to compare tables taken on different machines."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load import Outcome
from bench.servers import Servers, postgres_cpu_seconds, rabbitmq_cpu_seconds
from transport.app import processes


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds so far of the orchestrator processes (together), the workers, Redis, RabbitMQ,
    PostgreSQL (the archive's database, when the run has one) and this process, which runs the
    load generator."""

    orchestrator: float
    workers: float
    redis: float | None
    rabbitmq: float | None
    load: float = 0.0
    postgres: float | None = None

    @classmethod
    def take(
        cls, orchestrator: tuple[int, ...], workers: list[int], servers: Servers | None, archive_db: str | None = None
    ) -> Snapshot:
        return cls(
            orchestrator=sum(processes.cpu_seconds(pid) for pid in orchestrator),
            workers=sum(processes.cpu_seconds(pid) for pid in workers),
            redis=servers.redis_cpu_seconds() if servers else None,
            rabbitmq=rabbitmq_cpu_seconds() if servers else None,
            load=processes.cpu_seconds(os.getpid()),
            postgres=postgres_cpu_seconds(archive_db) if archive_db else None,
        )


@dataclass(frozen=True)
class Executions:
    """What the workers' execution logs say about one run's jobs."""

    count: int  # skill invocations
    duplicated: int  # invocations beyond the first for the same (job id, params "n")


@dataclass(frozen=True)
class RunFigures:
    jobs: int
    finished: int
    jobs_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms_per_job: float  # orchestrator processes together, per finished job
    worker_cpu_ms_per_job: float
    redis_cpu_ms_per_job: float | None
    rabbitmq_cpu_ms_per_job: float | None
    postgres_cpu_ms_per_job: float | None  # the archive's database; None without one
    load_cpu_ms_per_job: float | None  # the load generator (the bench process), per finished job
    peak_rss_mb: float  # VmHWM summed over the orchestrator processes
    rss_mb: float | None = None  # VmRSS summed over the orchestrator processes at the end of the run
    start_p50_ms: float | None = None  # blueprint dispatch to the worker's skill starting; None: no such data
    start_p99_ms: float | None = None
    executions: int | None = None  # skill invocations the workers logged for this run's jobs; None: no workers
    duplicated: int | None = None  # invocations beyond one per (job, task "n"): retries and duplicates

    @property
    def not_finished(self) -> int:
        return self.jobs - self.finished


def figures(
    jobs: int,
    outcome: Outcome,
    before: Snapshot,
    after: Snapshot,
    pids: tuple[int, ...],
    executions: Executions | None = None,
) -> RunFigures:
    finished = max(len(outcome.finished()), 1)  # per-job costs of a run that finished nothing: per 1
    latencies = sorted(outcome.latencies()) or [float("nan")]
    starts = sorted(outcome.start_latencies())
    span = outcome.span()

    def per_job(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else (b - a) * 1000 / finished

    return RunFigures(
        jobs=jobs,
        finished=len(outcome.finished()),
        jobs_per_s=len(outcome.finished()) / span if span > 0 else 0.0,
        p50_ms=_quantile(latencies, 0.50) * 1000,
        p95_ms=_quantile(latencies, 0.95) * 1000,
        p99_ms=_quantile(latencies, 0.99) * 1000,
        cpu_ms_per_job=(after.orchestrator - before.orchestrator) * 1000 / finished,
        worker_cpu_ms_per_job=(after.workers - before.workers) * 1000 / finished,
        redis_cpu_ms_per_job=per_job(before.redis, after.redis),
        rabbitmq_cpu_ms_per_job=per_job(before.rabbitmq, after.rabbitmq),
        postgres_cpu_ms_per_job=per_job(before.postgres, after.postgres),
        load_cpu_ms_per_job=per_job(before.load, after.load),
        peak_rss_mb=sum(processes.peak_rss_mb(pid) for pid in pids),
        rss_mb=sum(rss_mb(pid) for pid in pids),
        start_p50_ms=_quantile(starts, 0.50) * 1000 if starts else None,
        start_p99_ms=_quantile(starts, 0.99) * 1000 if starts else None,
        executions=executions.count if executions else None,
        duplicated=executions.duplicated if executions else None,
    )


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` now (``VmRSS``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


CALIBRATION_LOOP = 10_000_000


def calibrate(rounds: int = 3) -> dict[str, object]:
    """The machine's speed: the best of ``rounds`` timings of a fixed pure-Python loop (seconds; lower
    is faster), with ``nproc`` and the CPU model. The loop is single-threaded, so it shows the speed
    of one core as this process gets it, including what others running at the time take."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for i in range(CALIBRATION_LOOP):
            total += i
        best = min(best, time.perf_counter() - started)
    return {
        "loop_seconds": round(best, 3),
        "loop": f"for i in range({CALIBRATION_LOOP:_}): total += i",
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg": [round(load, 2) for load in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def median_and_spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)
