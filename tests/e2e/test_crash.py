"""A node killed with SIGKILL mid-run loses no job and finishes none twice (ARCHITECTURE.md,
"Mailboxes on RabbitMQ").

Three ``avtomat node`` processes, one ``avtomat gateway`` and two real SDK workers run against the
RabbitMQ and Redis of this machine, in a namespace of their own. Jobs of the blueprints in
``blueprints_crash/`` go in through the HTTP API at a steady rate; meanwhile the busiest node is
SIGKILLed and restarted. Every job must then finish, within a deadline, with
each step in its trail once and each task result applied once.

So that the kill hits work in flight, the victim is the node that did the most work since the
load began (CPU time above its idle rate, read from ``/proc``), and the test checks that it did
real work. With single active consumer alone, the first node to subscribe owns every shard and
the others idle: the victim is that owner. With shards spread across nodes (ADR 0004), it is
the busiest of them.

The harness (``running_system``, ``Load``, ``audit``) is shared with test_broker_outage.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.servers import distributed_env, fresh_namespace, purge
from transport.app.processes import Process
from transport.app.topology import LocalTopology

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

HERE = Path(__file__).parent

# -- the load: parameters of the crash test --------------------------------------------------
JOBS = 300  # jobs submitted
SUBMIT_RATE = 30.0  # jobs per second, steady: the load runs JOBS / SUBMIT_RATE seconds
IDLE_WINDOW = 1.0  # seconds over which the nodes' idle CPU use is measured, before the load
KILL_AFTER = 4.0  # seconds after the first submission, the busiest node is SIGKILLed...
DOWN_FOR = 1.0  # ...and restarted this long after
FINISH_WITHIN = 30.0  # seconds after the last submission, every job must be finished
NODES = 3
WORKERS = 2


@dataclass(frozen=True)
class Flow:
    """A blueprint the load submits (``POST /api/v1/jobs/<path>``) and what each of its finished
    jobs must show in its result: exactly this trail of states, and ``tasks`` task results
    (tokens), none of them applied twice (see blueprints_crash/)."""

    path: str
    trail: tuple[str, ...]
    tasks: int


# The blueprints the tests submit, round-robin.
FLOWS: tuple[Flow, ...] = (
    Flow("crash_chain", ("start", "a", "b", "c"), tasks=2),
    Flow("crash_fanout", ("start", "gather", "done"), tasks=5),
)

TERMINAL = {"finished", "failed", "quarantined", "cancelled"}
SECRETS = {"CLIENT_TOKEN": "client-crash", "GLOBAL_WORKER_TOKEN": "worker-crash", "ORCHESTRATOR_SECRET_KEY": "s-crash"}


# -- the system under test ----------------------------------------------------------------------


@dataclass
class System:
    url: str
    topology: LocalTopology
    workers: list[Process]
    log_dir: Path

    @property
    def client_headers(self) -> dict[str, str]:
        return {"X-Client-Token": SECRETS["CLIENT_TOKEN"]}

    def task_runs(self) -> list[str]:
        """The token of every task the workers have run so far (see crash_worker.py)."""
        return [token for runs in self.log_dir.glob("*.runs") for token in runs.read_text().split()]


@contextlib.contextmanager
def running_system(
    log_dir: Path, *, nodes: int = NODES, rabbitmq_url: str | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[System]:
    """Nodes, a gateway and ``WORKERS`` SDK workers in a fresh namespace; everything stopped and
    the namespace purged on the way out, whatever happened. ``rabbitmq_url`` overrides where the
    avtomat processes (not the test's own checks and purge) reach RabbitMQ; ``settings`` are more
    environment variables for them."""
    namespace = fresh_namespace("crash")
    env = {
        **os.environ,
        **SECRETS,
        **distributed_env(namespace),  # skips locally, fails in CI, without RabbitMQ or Redis
        "BLUEPRINTS_DIR": str(HERE / "blueprints_crash"),
        "RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "WORKER_HEALTH_CHECK_INTERVAL_SECONDS": "5",
        **(settings or {}),
    }
    if rabbitmq_url is not None:
        env["RABBITMQ_URL"] = rabbitmq_url
    topology = LocalTopology(env, nodes=nodes, gateways=1, log_dir=log_dir)
    workers: list[Process] = []
    try:
        topology.start()
        url = topology.urls[0]
        workers = [_start_worker(url, f"crash-worker-{i}", log_dir) for i in range(WORKERS)]
        yield System(url, topology, workers, log_dir)
    finally:
        for worker in workers:
            worker.stop()
        topology.stop()
        purge(namespace)


def _start_worker(url: str, worker_id: str, log_dir: Path) -> Process:
    env = {
        **os.environ,
        "WORKER_ID": worker_id,
        "WORKER_TOKEN": SECRETS["GLOBAL_WORKER_TOKEN"],
        "ORCHESTRATOR_URL": url,
        "ORCHESTRATOR_SECRET_KEY": SECRETS["ORCHESTRATOR_SECRET_KEY"],
        "HEARTBEAT_INTERVAL": "1",
        "TASK_POLL_TIMEOUT": "2",
        "IDLE_POLL_DELAY": "0.05",
        "RESULT_RETRY_INITIAL_DELAY": "0.2",
        "RESULT_MAX_RETRIES": "8",
        "WORKER_SHUTDOWN_TIMEOUT": "2",
        "CRASH_RUNS_DIR": str(log_dir),
    }
    return Process([sys.executable, str(HERE / "crash_worker.py")], env, log_dir / f"{worker_id}.log", cwd=HERE).start()


# -- the client side ------------------------------------------------------------------------------


@dataclass
class Load:
    """What a client program does: submit jobs at a steady rate, then poll them until they are
    over, all over the HTTP API with bounded waits."""

    system: System
    http: aiohttp.ClientSession
    jobs: dict[str, Flow] = field(default_factory=dict)  # accepted job id -> its flow
    rejected: int = 0  # submissions answered 503 (the job could not be queued) and sent again

    async def submit_steadily(self, count: int, rate: float, *, deadline: float) -> None:
        """Submit ``count`` jobs, the i-th at ``i / rate`` s from now, round-robin over ``FLOWS``.
        A slow answer does not hold the next submission back."""
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            flow = FLOWS[i % len(FLOWS)]
            self.jobs[await self._submit(flow, deadline)] = flow

        async with asyncio.TaskGroup() as tg:
            for i in range(count):
                tg.create_task(one(i))

    async def _submit(self, flow: Flow, deadline: float) -> str:
        """POST until accepted: a 503 means the gateway could not queue the job (and failed it),
        so a client sends it again."""
        while True:
            async with self.http.post(f"{self.system.url}/api/v1/jobs/{flow.path}", json={"initial_data": {}}) as resp:
                if resp.status == 202:
                    return str((await resp.json())["job_id"])
                text = await resp.text()
            assert resp.status == 503, f"submission answered {resp.status}: {text}"
            assert time.monotonic() < deadline, f"submission still refused at the deadline: {text}"
            self.rejected += 1
            await asyncio.sleep(0.2)

    async def wait_all(
        self, deadline: float, *, submitting: asyncio.Task[None] | None = None, unavailable_ok: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Poll every job until it is over; returns each job's last view. With ``submitting``, reads
        from the first submission on, until that task is done and every job is over. With
        ``unavailable_ok``, a 503 is read again at the next round, as a client does during an
        outage; otherwise every read must answer 200. Stops at ``deadline`` (``time.monotonic()``)
        with the views read so far: the caller reports what is stuck."""
        views: dict[str, dict[str, Any]] = {}
        gate = asyncio.Semaphore(16)

        async def read(job_id: str) -> None:
            async with gate, self.http.get(f"{self.system.url}/api/v1/jobs/{job_id}") as resp:
                if unavailable_ok and resp.status == 503:
                    return
                assert resp.status == 200, await resp.text()
                views[job_id] = dict(await resp.json())

        def pending() -> list[str]:
            return [job_id for job_id in list(self.jobs) if views.get(job_id, {}).get("status") not in TERMINAL]

        while True:
            submitted = submitting is None or submitting.done()
            async with asyncio.TaskGroup() as tg:
                for job_id in pending():
                    tg.create_task(read(job_id))
            if (submitted and not pending()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        return views

    async def wait_for_workers(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            async with self.http.get(f"{self.system.url}/api/v1/workers") as resp:
                assert resp.status == 200, await resp.text()
                if len(await resp.json()) >= WORKERS:
                    return
            assert time.monotonic() < deadline, f"{WORKERS} workers not registered in {timeout} s"
            await asyncio.sleep(0.1)


def http_session(system: System) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers=system.client_headers, timeout=aiohttp.ClientTimeout(total=45))


# -- what the jobs show ----------------------------------------------------------------------------


@dataclass
class Audit:
    """Every job checked against its flow. A duplicate step is a state in a trail more than once;
    a duplicate result is a token more than once (in one job or across jobs)."""

    finished: int = 0
    duplicate_steps: int = 0
    duplicate_results: int = 0
    runs_not_applied: int = 0  # task runs whose result no job applied: tasks run again (a retry)
    problems: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.duplicate_steps + self.duplicate_results


def audit(jobs: dict[str, Flow], views: dict[str, dict[str, Any]], runs: list[str]) -> Audit:
    """``runs``: the token of every task run (``System.task_runs()``, read once the jobs are over)."""
    found = Audit()
    tokens: Counter[str] = Counter()
    for job_id, flow in jobs.items():
        view = views.get(job_id, {"status": "never read"})
        if view["status"] != "finished":
            found.problems.append(f"{job_id}: {view['status']} in {view.get('current_state')}: {view.get('error')}")
            continue
        found.finished += 1
        result = view.get("result") or {}
        trail, job_tokens = result.get("trail", []), result.get("tokens", [])
        found.duplicate_steps += sum(n - 1 for n in Counter(trail).values())
        tokens.update(job_tokens)
        if tuple(trail) != flow.trail:
            found.problems.append(f"{job_id}: trail {trail}, expected {list(flow.trail)}")
        if len(job_tokens) != flow.tasks:
            found.problems.append(f"{job_id}: {len(job_tokens)} task results applied, expected {flow.tasks}")
    twice = {token: n for token, n in tokens.items() if n > 1}
    found.duplicate_results = sum(n - 1 for n in twice.values())
    if twice:
        found.problems.append(f"task results applied more than once: {sorted(twice.items())[:10]}")
    if unknown := set(tokens) - set(runs):
        found.problems.append(f"results applied that no worker produced: {sorted(unknown)[:10]}")
    found.runs_not_applied = len(set(runs) - set(tokens))
    return found


def figures(**values: object) -> str:
    return ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in values.items())


def first_problems(found: Audit, limit: int = 10) -> str:
    more = len(found.problems) - limit
    return "\n".join(found.problems[:limit]) + (f"\n... and {more} more" if more > 0 else "")


# -- the test ---------------------------------------------------------------------------------------


@pytest.mark.timeout(120)  # a hang guard only: the test's own deadlines fail it sooner, with figures
def test_sigkill_of_the_busiest_node_loses_no_job_and_finishes_none_twice(tmp_path: Path) -> None:
    with running_system(tmp_path) as system:
        result = asyncio.run(_crash_run(system))
    print(f"\ncrash test: {result}")


@dataclass(frozen=True)
class Kill:
    victim: int  # index of the node killed
    kills: int
    work: list[float]  # CPU seconds each node used from the first submission to the kill, above its idle rate
    idle: list[float]  # CPU seconds each node uses idle over the same time
    submitted: int  # jobs accepted when the kill came

    @property
    def victim_was_working(self) -> bool:
        return self.work[self.victim] > max(2 * self.idle[self.victim], IDLE_WINDOW / 10)


async def idle_cpu_rates(topology: LocalTopology) -> list[float]:
    """CPU seconds per second each node uses with nothing to do."""
    nodes = topology.node_processes
    before = [node.cpu_seconds() for node in nodes]
    await asyncio.sleep(IDLE_WINDOW)
    return [(node.cpu_seconds() - b) / IDLE_WINDOW for node, b in zip(nodes, before, strict=True)]


async def kill_and_restart_the_busiest_node(topology: LocalTopology, load: Load, idle_rates: list[float]) -> Kill:
    nodes = topology.node_processes
    before = [node.cpu_seconds() for node in nodes]
    await asyncio.sleep(KILL_AFTER)
    used = [node.cpu_seconds() - b for node, b in zip(nodes, before, strict=True)]
    idle = [rate * KILL_AFTER for rate in idle_rates]
    work = [u - i for u, i in zip(used, idle, strict=True)]
    victim = max(range(len(nodes)), key=work.__getitem__)
    submitted = len(load.jobs)
    await asyncio.to_thread(topology.kill_node, victim)
    await asyncio.sleep(DOWN_FOR)
    await asyncio.to_thread(topology.restart_node, victim)
    return Kill(victim, 1, work, idle, submitted)


async def _crash_run(system: System) -> str:
    async with http_session(system) as http:
        load = Load(system, http)
        await load.wait_for_workers()
        idle_rates = await idle_cpu_rates(system.topology)
        started = time.monotonic()
        last_submission = started + JOBS / SUBMIT_RATE
        async with asyncio.TaskGroup() as tg:
            tg.create_task(load.submit_steadily(JOBS, SUBMIT_RATE, deadline=last_submission + FINISH_WITHIN))
            chaos = tg.create_task(kill_and_restart_the_busiest_node(system.topology, load, idle_rates))
        views = await load.wait_all(deadline=max(time.monotonic(), last_submission) + FINISH_WITHIN)
        wall = time.monotonic() - started

    kill, found = chaos.result(), audit(load.jobs, views, system.task_runs())
    summary = figures(
        jobs_submitted=len(load.jobs),
        kills=kill.kills,
        jobs_finished=found.finished,
        duplicates_found=found.duplicates,
        wall_time=f"{wall:.1f} s",
        task_runs_not_applied=found.runs_not_applied,
        node_killed=kill.victim,
        node_work_before_kill="/".join(f"{s:.2f}" for s in kill.work) + " s CPU",
        idle="/".join(f"{s:.2f}" for s in kill.idle) + " s CPU",
        submitted_at_kill=kill.submitted,
        resubmitted_after_503=load.rejected,
    )
    assert kill.victim_was_working, f"no node was doing work, so the kill proved nothing: {summary}"
    assert len(load.jobs) == JOBS, summary
    assert not found.problems, f"{summary}\n{first_problems(found)}\nlogs: {system.log_dir}"
    assert found.finished == JOBS and found.duplicates == 0, summary
    return summary
