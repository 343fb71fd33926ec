"""Results as a Markdown table (median and min..max over the repeats) and as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
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
    document: dict[str, object] = {"meta": meta, "runs": runs}
    if slices:
        document["slices"] = [
            {"target": target, "workload": workload, "slice": i, **dataclasses.asdict(run)}
            for (target, workload), figures in slices.items()
            for i, run in enumerate(figures, start=1)
        ]
    path.write_text(json.dumps(document, indent=2, default=str))
