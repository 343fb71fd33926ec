"""Processes by PID: start one with its environment and a log file, wait until it is ready, stop
it (SIGTERM, then SIGKILL), read its log and its CPU time.

The one launcher of the project: the topology runner (``python -m transport.app.topology``), the
end-to-end tests and the benchmarks (``bench/``) all start and stop their processes with it.
Linux only where it reads ``/proc`` (``cpu_seconds``, ``peak_rss_mb``).

- A process's output (stdout and stderr) is appended to its log; ``output()`` is what the current
  run wrote, so a restarted process is judged on its own lines.
- ``stop()`` is idempotent and never raises for a process that is gone already.
- Waits poll the log or a URL every 50 ms and raise ``RuntimeError`` with the log when the process
  exits first or the timeout passes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL = 0.05  # seconds between two looks at a log or a URL


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now (the caller's process takes it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """One child process: ``argv`` run in ``cwd`` with exactly ``env``, its output appended to ``log``.

    ``with Process(...) as p`` starts it (unless started already) and stops it on the way out;
    ``start()`` again after a stop restarts it on the same log.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> None:
        self.argv, self.env, self.log, self.cwd = list(argv), dict(env), log, cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this run's output starts in the log

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.argv!r} was never started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        """What the current run has written so far."""
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Poll ``ready()`` until it holds; raise with the log if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running:
                code = None if self.popen is None else self.popen.returncode
                raise RuntimeError(f"{self.argv!r} exited with {code} before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.argv!r}: no {what} within {timeout} s:\n{self.output()}")
            time.sleep(POLL)

    def wait_line(self, text: str, timeout: float = 30.0) -> None:
        """Wait until this run's output contains ``text``."""
        self.wait_until(lambda: text in self.output(), repr(text), timeout)

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200."""
        self.wait_until(lambda: _answers_ok(url), f"200 from {url}", timeout)

    def signal(self, sig: int) -> None:
        """Send ``sig`` if the process is still running."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL and reap: no shutdown, no acks; what a crash looks like to the servers."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code (None: never started).
        Idempotent."""
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the running process has used."""
        return cpu_seconds(self.pid)

    def __enter__(self) -> Process:
        return self if self.popen is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads), from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of ``pid`` since it started (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
