"""Redis killed under load and back 6 s later loses no job, answers no 500 and runs no task twice.

The avtomat processes (a node and a gateway) use a private ``redis-server`` this test starts on a
free port with the append-only file on (``appendfsync always``: what a returned write wrote
survives the kill), and the RabbitMQ of this machine. Jobs of the blueprints in
``blueprints_crash/`` go in at a steady rate; meanwhile the Redis server is SIGKILLed, and
restarted on the same port and directory ``DOWN_FOR`` seconds later. While it is away:

- the gateway answers 503 with ``Retry-After`` (never 500): the test's client submits and reads
  again, the SDK workers poll, heartbeat and report again;
- the node retries each message in place (never dead-lettering one) until Redis answers.

Then every job must finish with its exact trail and task results (each applied once), no
response to anyone was a 500, no message was dead-lettered, and every task ran exactly once (the
workers' execution logs against the results the jobs applied).

The harness (``running_system``, ``Load``, ``audit``) is test_crash.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_crash import Load, System, audit, figures, first_problems, running_system
from tests.support.servers import server_unavailable
from transport.app.processes import Process

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

JOBS = 80  # jobs submitted
SUBMIT_RATE = 10.0  # jobs per second, steady: the load runs 8 s
KILL_AFTER = 3.0  # seconds after the first submission, redis-server is SIGKILLed...
DOWN_FOR = 6.0  # ...and started again this long after
FINISH_WITHIN = 30.0  # seconds after the last submission plus the outage, every job must be finished
READY_WITHIN = 10.0  # seconds for redis-server to answer PING (after loading its append-only file)


class PrivateRedis:
    """A ``redis-server`` of this test's own, on a free port, persisting to ``directory`` with the
    append-only file fsynced on every write. ``kill`` is SIGKILL; ``start`` again reuses the port
    and the directory, so the server comes back with every write it acknowledged."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            server_unavailable("redis-server is not on PATH")
        self.port = _free_port()
        command = [
            str(executable),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
        ]
        self._process = Process(command, dict(os.environ), directory / "redis-server.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process.start().wait_until(self._answers, "PONG", READY_WITHIN)

    def kill(self) -> None:
        self._process.kill()

    def stop(self) -> None:
        self._process.stop()

    def _answers(self) -> bool:
        """PING answered with PONG (not refused, and not ``-LOADING`` while the file loads)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _free_port() -> int:
    """A free port below the ephemeral range: while Redis is down, no outgoing connection (say, a
    client's reconnect to this very port, connecting to itself) can take it as its local port."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(10_000, low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in 10000-{low}")


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    directory.mkdir()
    redis = PrivateRedis(directory)
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@pytest.mark.timeout(150)  # a hang guard only: the test's own deadlines fail it sooner, with figures
def test_a_store_outage_loses_no_job_answers_no_500_and_runs_no_task_twice(tmp_path: Path) -> None:
    with (
        private_redis(tmp_path / "redis") as redis,
        running_system(tmp_path, nodes=1, settings={"REDIS_URL": redis.url}) as system,
    ):
        result = asyncio.run(_outage_run(system, redis))
    print(f"\nstore outage test: {result}")


@dataclass(frozen=True)
class Outage:
    submitted: int  # jobs accepted when Redis was killed
    back_after: float  # seconds from the kill until Redis answered again


async def kill_and_restart(redis: PrivateRedis, load: Load) -> Outage:
    await asyncio.sleep(KILL_AFTER)
    submitted = len(load.jobs)
    await asyncio.to_thread(redis.kill)
    killed = time.monotonic()
    await asyncio.sleep(DOWN_FOR)
    await asyncio.to_thread(redis.start)
    return Outage(submitted, time.monotonic() - killed)


def counting_statuses(statuses: Counter[int]) -> aiohttp.TraceConfig:
    """A trace config that counts the status of every response the session receives."""

    async def on_request_end(_: aiohttp.ClientSession, __: SimpleNamespace, params: Any) -> None:
        statuses[params.response.status] += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


async def _outage_run(system: System, redis: PrivateRedis) -> str:
    statuses: Counter[int] = Counter()
    timeout = aiohttp.ClientTimeout(total=45)
    async with aiohttp.ClientSession(
        headers=system.client_headers, timeout=timeout, trace_configs=[counting_statuses(statuses)]
    ) as http:
        load = Load(system, http)
        await load.wait_for_workers()
        started = time.monotonic()
        last_submission = started + JOBS / SUBMIT_RATE
        deadline = last_submission + KILL_AFTER + DOWN_FOR + FINISH_WITHIN
        async with asyncio.TaskGroup() as tg:
            submitting = tg.create_task(load.submit_steadily(JOBS, SUBMIT_RATE, deadline=deadline))
            chaos = tg.create_task(kill_and_restart(redis, load))
            reading = tg.create_task(load.wait_all(deadline, submitting=submitting, unavailable_ok=True))
        outage, views = chaos.result(), reading.result()
        wall = time.monotonic() - started

    found = audit(load.jobs, views, system.task_runs())
    answered_500 = _logged(system, "gateway-*.log", "unhandled error in")
    dead_lettered = _logged(system, "node-*.log", "dead-lettering")
    summary = figures(
        jobs_submitted=len(load.jobs),
        redis_down_for=f"{outage.back_after:.1f} s",
        submitted_at_kill=outage.submitted,
        jobs_finished=found.finished,
        duplicates_found=found.duplicates,
        task_runs_not_applied=found.runs_not_applied,
        client_statuses=dict(sorted(statuses.items())),
        resubmitted_after_503=load.rejected,
        answered_500_logged=answered_500,
        dead_lettered=dead_lettered,
        wall_time=f"{wall:.1f} s",
    )
    assert 0 < outage.submitted < JOBS, f"the kill did not come under load: {summary}"
    assert statuses[503] > 0, f"the client never met the outage: {summary}"
    assert len(load.jobs) == JOBS, summary
    assert not found.problems, f"{summary}\n{first_problems(found)}\nlogs: {system.log_dir}"
    assert found.finished == JOBS and found.duplicates == 0, summary
    assert not [status for status in statuses if status >= 500 and status != 503], summary
    assert answered_500 == 0 and dead_lettered == 0, f"{summary}\nlogs: {system.log_dir}"
    assert found.runs_not_applied == 0, f"a task ran twice: {summary}\nlogs: {system.log_dir}"
    return summary


def _logged(system: System, pattern: str, text: str) -> int:
    """Lines containing ``text`` in the avtomat logs matching ``pattern``."""
    return sum(log.read_text(errors="replace").count(text) for log in system.log_dir.glob(pattern))
