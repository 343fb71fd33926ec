"""The one process launcher (``transport.app.processes``): start with an environment and a log,
wait for a line, stop by PID (SIGTERM, then SIGKILL), idempotently."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from transport.app.processes import Process

# Prints its marker and the environment variable it was given, then waits to be stopped.
WAITER = "import os, sys, time; print('ready', os.environ['MARK'], flush=True); time.sleep(60)"
# Ignores SIGTERM: only SIGKILL ends it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def python(code: str, log: Path, **env: str) -> Process:
    return Process([sys.executable, "-c", code], env, log)


def test_a_started_process_logs_and_stops_on_sigterm_and_stop_is_idempotent(tmp_path: Path) -> None:
    with python(WAITER, tmp_path / "p.log", MARK="m-1") as proc:
        proc.wait_line("ready m-1", timeout=10)
        assert proc.running
        assert proc.cpu_seconds() >= 0.0

    assert not proc.running
    assert proc.stop() == -signal.SIGTERM  # stopped by the context exit; stopping again changes nothing
    assert "ready m-1" in proc.output()


def test_a_restart_is_judged_on_its_own_output(tmp_path: Path) -> None:
    proc = python(WAITER, tmp_path / "p.log", MARK="m-1").start()
    proc.wait_line("ready m-1", timeout=10)
    proc.kill()
    assert not proc.running

    proc.env["MARK"] = "m-2"
    proc.start()
    try:
        proc.wait_line("ready m-2", timeout=10)
        assert "m-1" not in proc.output()
        assert "ready m-1" in proc.log.read_text()  # the log keeps both runs
    finally:
        proc.stop()


def test_a_process_deaf_to_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    proc = python(STUBBORN, tmp_path / "p.log").start()
    proc.wait_line("ready", timeout=10)

    assert proc.stop(timeout=0.2) == -signal.SIGKILL


def test_waiting_on_a_process_that_exits_fails_with_its_log(tmp_path: Path) -> None:
    proc = python("print('bad setting'); raise SystemExit(2)", tmp_path / "p.log").start()

    with pytest.raises(RuntimeError, match=r"exited with 2 (.|\n)*bad setting"):
        proc.wait_line("ready", timeout=10)
    assert proc.stop() == 2
