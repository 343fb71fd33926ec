"""Results as a Markdown table (median and min..max over the repeats) and as JSON; with the
upstream ``avtomatika`` target among them, a second table of avtomat-to-avtomatika ratios."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.measure import RunFigures, median_and_spread

# (column header, RunFigures attribute, decimals)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("jobs/s", "jobs_per_s", 0),
    ("p50 ms", "p50_ms", 1),
    ("p95 ms", "p95_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("start p50 ms", "start_p50_ms", 1),
    ("start p99 ms", "start_p99_ms", 1),
    ("orch CPU ms/job", "cpu_ms_per_job", 2),
    ("worker CPU ms/job", "worker_cpu_ms_per_job", 2),
    ("Redis CPU ms/job", "redis_cpu_ms_per_job", 2),
    ("RabbitMQ CPU ms/job", "rabbitmq_cpu_ms_per_job", 2),
    ("PostgreSQL CPU ms/job", "postgres_cpu_ms_per_job", 2),
    ("load CPU ms/job", "load_cpu_ms_per_job", 2),
    ("peak RSS MiB", "peak_rss_mb", 0),
    ("executions", "executions", 0),
    ("dup", "duplicated", 0),
)

# The per-slice table of a ``--slices`` run.
SLICE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("jobs/s", "jobs_per_s", 0),
    ("p50 ms", "p50_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("orch CPU ms/job", "cpu_ms_per_job", 2),
    ("Redis CPU ms/job", "redis_cpu_ms_per_job", 2),
    ("RabbitMQ CPU ms/job", "rabbitmq_cpu_ms_per_job", 2),
    ("RSS MiB", "rss_mb", 0),
    ("peak RSS MiB", "peak_rss_mb", 0),
)

Results = dict[tuple[str, str], list[RunFigures]]  # (target, workload) -> one entry per repeat

UPSTREAM = "avtomatika"  # the target the ratio table compares every other one with


def cell(runs: list[RunFigures], attribute: str, decimals: int) -> str:
    values = [getattr(run, attribute) for run in runs]
    if any(v is None for v in values):
        return "n/a"
    finite = [float(v) for v in values if not math.isnan(v)]
    if not finite:
        return "n/a"
    median, low, high = median_and_spread(finite)
    if len(finite) == 1:
        return f"{median:.{decimals}f}"
    return f"{median:.{decimals}f} ({low:.{decimals}f}..{high:.{decimals}f})"


def table(results: Results) -> str:
    headers = ["target", "workload", "jobs", "not finished", *(c[0] for c in COLUMNS)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for (target, workload), runs in results.items():
        not_finished = "/".join(str(run.not_finished) for run in runs)
        row = [target, workload, str(runs[0].jobs), not_finished, *(cell(runs, a, d) for _, a, d in COLUMNS)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def slices_table(slices: Results) -> str:
    """One row per slice of each ``--slices`` run, in order; RSS is ``VmRSS`` at the slice's end."""
    headers = ["target", "workload", "slice", "jobs", "not finished", *(c[0] for c in SLICE_COLUMNS)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for (target, workload), runs in slices.items():
        for i, run in enumerate(runs, start=1):
            row = [target, workload, str(i), str(run.jobs), str(run.not_finished)]
            row += [cell([run], a, d) for _, a, d in SLICE_COLUMNS]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_json(results: Results, path: Path, meta: dict[str, object], slices: Results | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = [
        {"target": target, "workload": workload, "repeat": i, **dataclasses.asdict(run)}
        for (target, workload), figures in results.items()
        for i, run in enumerate(figures)
    ]
    compared = [dataclasses.asdict(ratio) for ratio in ratios(results)]
    document: dict[str, object] = {"meta": meta, "runs": runs, "ratios": compared}
    if slices:
        document["slices"] = [
            {"target": target, "workload": workload, "slice": i, **dataclasses.asdict(run)}
            for (target, workload), figures in slices.items()
            for i, run in enumerate(figures, start=1)
        ]
    path.write_text(json.dumps(document, indent=2, default=str))


# The ratio table: (header, the figure of one repeat pair (avtomat run, avtomatika run), or None).
# Each is oriented so that above 1 means avtomat does better.
RATIOS: tuple[tuple[str, Callable[[RunFigures, RunFigures], float | None]], ...] = (
    ("jobs/s avtomat ÷ avtomatika", lambda ours, theirs: _div(ours.jobs_per_s, theirs.jobs_per_s)),
    ("orch CPU/job avtomatika ÷ avtomat", lambda ours, theirs: _div(theirs.cpu_ms_per_job, ours.cpu_ms_per_job)),
    ("orch+Redis+RabbitMQ CPU/job avtomatika ÷ avtomat", lambda ours, theirs: _div(_all_cpu(theirs), _all_cpu(ours))),
)


@dataclass(frozen=True)
class Ratio:
    """One avtomat target against ``UPSTREAM`` on one workload, per repeat pair (repeat i of one
    against repeat i of the other; None where a side had nothing to divide by)."""

    target: str
    workload: str
    jobs_per_s: list[float | None]  # avtomat / avtomatika
    orch_cpu_per_job: list[float | None]  # avtomatika / avtomat
    all_cpu_per_job: list[float | None]  # the same, orchestrator + Redis + RabbitMQ
    not_finished: list[int]
    upstream_not_finished: list[int]

    def figures(self) -> tuple[list[float | None], ...]:
        return self.jobs_per_s, self.orch_cpu_per_job, self.all_cpu_per_job


def ratios(results: Results) -> list[Ratio]:
    """A ``Ratio`` per workload and avtomat target measured beside ``UPSTREAM``."""
    found = []
    for (target, workload), ours in results.items():
        theirs = results.get((UPSTREAM, workload))
        if target == UPSTREAM or theirs is None:
            continue
        pairs = list(zip(ours, theirs, strict=False))
        jobs_per_s, orch_cpu, all_cpu = ([ratio(a, b) for a, b in pairs] for _, ratio in RATIOS)
        not_finished = ([run.not_finished for run in ours], [run.not_finished for run in theirs])
        found.append(Ratio(target, workload, jobs_per_s, orch_cpu, all_cpu, *not_finished))
    return found


def ratio_table(results: Results) -> str:
    """The ``ratios`` as median (min..max) over the repeat pairs, or "" if ``UPSTREAM`` was not
    measured beside an avtomat target."""
    rows = ratios(results)
    if not rows:
        return ""
    headers = ["avtomat target", "workload", *(h for h, _ in RATIOS), "not finished avtomat", "not finished avtomatika"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        counts = ["/".join(map(str, row.not_finished)), "/".join(map(str, row.upstream_not_finished))]
        lines.append("| " + " | ".join([row.target, row.workload, *map(_spread, row.figures()), *counts]) + " |")
    lines += [
        "",
        "Ratios per repeat pair (repeat i against repeat i), median (min..max); above 1: avtomat does better.",
        "Latency ends at the job's finished_at (avtomat targets) or when the load generator first read it "
        f"as finished ({UPSTREAM}: its job view has no finish time). {UPSTREAM} uses no RabbitMQ (n/a); "
        "Redis and RabbitMQ CPU are machine-wide.",
    ]
    return "\n".join(lines)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b <= 0:
        return None
    return a / b


def _all_cpu(run: RunFigures) -> float:
    """Orchestrator, Redis and RabbitMQ CPU ms per job; a server the target does not use counts 0."""
    return run.cpu_ms_per_job + (run.redis_cpu_ms_per_job or 0.0) + (run.rabbitmq_cpu_ms_per_job or 0.0)


def _spread(values: list[float | None]) -> str:
    finite = [v for v in values if v is not None]
    if not finite:
        return "n/a"
    median, low, high = median_and_spread(finite)
    return f"{median:.2f}" if len(finite) == 1 else f"{median:.2f} ({low:.2f}..{high:.2f})"


_FRAMES = re.compile(r"(published|consumed) (\d+) envelopes in (\d+) frames")


def frames_table(log_root: Path) -> str:
    """Mean envelopes per AMQP message each process of a run published and consumed (warm-up
    included), from the summary the RabbitMQ broker logs at close (ADR 0013); empty when no log
    has one."""
    rows = []
    for log in sorted(log_root.glob("*/*/*.log")):
        summaries = _FRAMES.findall(log.read_text(errors="replace"))
        found = {what: (int(envelopes), int(frames)) for what, envelopes, frames in summaries}
        if found:
            cells = [_mean_per_frame(*found.get(what, (0, 0))) for what in ("published", "consumed")]
            rows.append(f"| {log.parent.parent.name} | {log.parent.name} | {log.stem} | {' | '.join(cells)} |")
    if not rows:
        return ""
    head = "| target | run | process | published: envelopes / frames = mean | consumed: envelopes / frames = mean |"
    return "\n".join([head, "|---|---|---|---|---|", *rows])


def _mean_per_frame(envelopes: int, frames: int) -> str:
    return f"{envelopes} / {frames} = {envelopes / frames:.2f}" if frames else "0"
