"""``python -m bench``: run the workloads against the targets and print the results table."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from bench.measure import calibrate
from bench.runner import WORKLOADS, Options, run_config, run_slices
from bench.servers import Servers
from bench.targets import ROOT, factories, own_processes
from bench.upstream.install import installed_versions
from bench.workers import WORKER_KINDS

DEFAULT_JOBS = {"chain": 2000, "echo": 1000, "fanout": 100, "long": 20}
DEFAULT_WORKLOADS = ["chain", "echo", "fanout"]  # `long` takes a minute a run: ask for it


def _jobs(text: str) -> dict[str, int]:
    """``chain=2000,echo=1000`` -> {"chain": 2000, "echo": 1000}."""
    jobs = dict(DEFAULT_JOBS)
    for item in filter(None, text.split(",")):
        name, _, count = item.partition("=")
        if name not in WORKLOADS or not count.isdigit():
            raise argparse.ArgumentTypeError(f"expected workload=count, got {item!r}")
        jobs[name] = int(count)
    return jobs


def _names(known: list[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        if unknown := [n for n in names if n not in known]:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {known}")
        return names

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    targets = list(factories())
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--targets", type=_names(targets), default=targets, help=f"comma-separated, of {targets}")
    parser.add_argument("--workloads", type=_names(list(WORKLOADS)), default=DEFAULT_WORKLOADS)
    parser.add_argument("--jobs", type=_jobs, default=dict(DEFAULT_JOBS), help="e.g. chain=20000,echo=5000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (median and spread)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for echo, fanout and long")
    parser.add_argument("--worker-kind", choices=WORKER_KINDS, default="sdk", help="SDK workers or the raw RXON worker")
    parser.add_argument("--raw-pollers", type=int, default=16, help="concurrent polls per raw worker process")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="how long each long task sleeps")
    parser.add_argument(
        "--slices", type=int, default=1, help="N > 1: one run per configuration, its jobs in N back-to-back slices"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="submissions in flight at most")
    parser.add_argument("--rate", type=float, default=None, help="submit at this many jobs/s instead of saturating")
    parser.add_argument("--warmup", type=int, default=20, help="jobs run and discarded before each measured run")
    parser.add_argument("--finish-within", type=float, default=60.0, help="seconds after the last submission")
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "results.json")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if leftovers := own_processes():
        print("processes of an earlier run are still alive; stop them (kill <pid>) first:", file=sys.stderr)
        print("\n".join(leftovers), file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    options = Options(
        args.repeat,
        args.workers,
        args.concurrency,
        args.rate,
        args.warmup,
        args.finish_within,
        args.long_seconds,
        args.worker_kind,
        args.raw_pollers,
    )
    machine = calibrate()
    print(f"machine: {_machine_line(machine)}", file=sys.stderr, flush=True)
    servers = Servers()
    log_root = ROOT / ".bench" / "logs" / time.strftime("%Y%m%d-%H%M%S")
    results: report.Results = {}
    slices: report.Results = {}
    try:
        for target in args.targets:
            for name in args.workloads:
                _run_one(args, options, servers, log_root, target, name, results, slices)
    finally:  # a run that fails or is interrupted still reports what it measured
        if results:
            _report(args, argv, machine, results, slices, log_root)
    return 0


def _run_one(
    args: argparse.Namespace,
    options: Options,
    servers: Servers,
    log_root: Path,
    target: str,
    name: str,
    results: report.Results,
    slices: report.Results,
) -> None:
    workload, jobs, factory = WORKLOADS[name], args.jobs[name], factories()[target]
    if workload.sleeps and jobs > options.worker_slots():
        print(f"note: {jobs} {name} jobs, {options.worker_slots()} worker slots: some wait", file=sys.stderr)
    if args.slices > 1:
        print(f"{target} / {name}: {jobs} jobs in {args.slices} slices", file=sys.stderr, flush=True)
        whole, per_slice = run_slices(factory, workload, jobs, args.slices, options, servers, log_root / target)
        results[(target, name)], slices[(target, name)] = [whole], per_slice
        return
    print(f"{target} / {name}: {jobs} jobs x {args.repeat}", file=sys.stderr, flush=True)
    results[(target, name)] = run_config(factory, workload, jobs, options, servers, log_root / target)


def _report(
    args: argparse.Namespace,
    argv: list[str],
    machine: dict[str, object],
    results: report.Results,
    slices: report.Results,
    log_root: Path,
) -> None:
    print(report.table(results))
    if ratios := report.ratio_table(results):
        print("\n" + ratios)
    if slices:
        print("\n" + report.slices_table(slices))
    if frames := report.frames_table(log_root):
        print("\n" + frames)
    print(f"\nmachine: {_machine_line(machine)}")
    meta: dict[str, object] = {"argv": ["python", "-m", "bench", *argv], "options": vars(args), "machine": machine}
    if "avtomatika" in args.targets:
        meta["avtomatika_venv"] = installed_versions(ROOT)
    report.write_json(results, args.out, meta, slices)
    print(f"\nall runs: {args.out}; logs: {log_root}", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: every process a target or the workers started is stopped on the way out."""
    raise KeyboardInterrupt


def _machine_line(machine: dict[str, object]) -> str:
    return (
        f"calibration loop {machine['loop_seconds']} s ({machine['loop']}, best of 3; lower is faster), "
        f"nproc {machine['nproc']}, {machine['cpu_model']}, loadavg {machine['loadavg']}"
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
