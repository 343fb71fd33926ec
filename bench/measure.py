"""The figures of one run: load outcome plus CPU and memory read from ``/proc`` and the servers."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench import procs
from bench.load import Outcome
from bench.servers import Servers, rabbitmq_cpu_seconds


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds so far of the orchestrator processes (together), the workers, Redis and RabbitMQ."""

    orchestrator: float
    workers: float
    redis: float | None
    rabbitmq: float | None

    @classmethod
    def take(cls, orchestrator: tuple[int, ...], workers: list[int], servers: Servers | None) -> Snapshot:
        return cls(
            orchestrator=sum(procs.cpu_seconds(pid) for pid in orchestrator),
            workers=sum(procs.cpu_seconds(pid) for pid in workers),
            redis=servers.redis_cpu_seconds() if servers else None,
            rabbitmq=rabbitmq_cpu_seconds() if servers else None,
        )


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
    peak_rss_mb: float  # VmHWM summed over the orchestrator processes

    @property
    def not_finished(self) -> int:
        return self.jobs - self.finished


def figures(jobs: int, outcome: Outcome, before: Snapshot, after: Snapshot, pids: tuple[int, ...]) -> RunFigures:
    finished = max(len(outcome.finished()), 1)  # per-job costs of a run that finished nothing: per 1
    latencies = sorted(outcome.latencies()) or [float("nan")]
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
        peak_rss_mb=sum(procs.peak_rss_mb(pid) for pid in pids),
    )


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def median_and_spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)
