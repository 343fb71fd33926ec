"""The scheduler makes each fire once across nodes, through the SIGKILL of its leader (issue 12).

Two ``avtomat node`` processes and one ``avtomat gateway`` run against the RabbitMQ and Redis of
this machine, in a namespace of their own, with one schedule: ``interval_seconds = 1`` of a
blueprint that needs no worker. Once the leader has made ``BEFORE_KILL`` fires it is SIGKILLed;
the other node takes the ``scheduler`` lock over and the test waits for ``AFTER_KILL`` fires past
the kill. Then it reads every job of the namespace from Redis and asserts, precisely:

- no two jobs for one fire: every scheduled job's id is its fire's (``fire_job_id``), the fire
  times are distinct, and each job's history shows one start (a repeated Start changed nothing);
- no gap: from the first fire to the last fire recorded, every second has its job, the fires
  that fell during the failover included (the successor makes fires up to
  ``SCHEDULE_GRACE_SECONDS`` late, and a failover takes about ``LOCK_LEASE_SECONDS * 4/3``);
- the survivor made fires after the kill, and every job finished.

A second, short test runs the same schedule on ``avtomat up`` (the embedded runtime).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from engine import defaults
from engine import history as h
from engine.history import decode_event
from engine.job import JobState, decode_state
from engine.schedules import fire_job_id
from tests.e2e.conftest import Orchestrator, launch
from tests.e2e.servers import distributed_env, fresh_namespace, purge
from tests.support.servers import REDIS_URL
from transport import keys
from transport.app.topology import LocalTopology

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

HERE = Path(__file__).parent
SCHEDULE = "tick"
BEFORE_KILL = 4  # fires the first leader makes before it is killed
AFTER_KILL = 5  # fires past the kill the survivor must make before the run ends
SECRETS = {"CLIENT_TOKEN": "client-sched", "GLOBAL_WORKER_TOKEN": "worker-sched", "ORCHESTRATOR_SECRET_KEY": "s-sched"}
LEADS = "leads the scheduler actor"
T = TypeVar("T")


def every_second(tmp_path: Path) -> Path:
    schedules = tmp_path / "schedules.toml"
    schedules.write_text(
        f'[{SCHEDULE}]\nblueprint = "e2e_branch"\ninterval_seconds = 1\ninput_data = {{ side = "right" }}\n'
    )
    return schedules


@pytest.fixture
def embedded(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    """``avtomat up`` on the embedded runtime with the same schedule."""
    yield from launch("embedded", tmp_path_factory, SCHEDULES_CONFIG_PATH=str(every_second(tmp_path)))


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[tuple[LocalTopology, str]]:
    namespace = fresh_namespace("sched")
    schedules = every_second(tmp_path)
    env = {
        **os.environ,
        **SECRETS,
        **distributed_env(namespace),  # skips locally, fails in CI, without RabbitMQ or Redis
        "BLUEPRINTS_DIR": str(HERE / "blueprints"),
        "SCHEDULES_CONFIG_PATH": str(schedules),
    }
    system = LocalTopology(env, nodes=2, gateways=1, log_dir=tmp_path / "logs")
    try:
        system.start()
        yield system, namespace
    finally:
        system.stop()
        purge(namespace)


def until(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` every 0.1 s until it returns something; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.1)
    return found


def get(url: str, token: str = SECRETS["CLIENT_TOKEN"]) -> Any:
    request = urllib.request.Request(url, headers={"X-Client-Token": token})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def last_fire(url: str, token: str = SECRETS["CLIENT_TOKEN"]) -> int | None:
    [schedule] = get(f"{url}/api/v1/schedules", token)
    return None if schedule["last_fire"] is None else int(schedule["last_fire"])


def scheduled_jobs(client: redis.Redis, namespace: str) -> list[JobState]:
    jobs = []
    for key in client.scan_iter(match=keys.job(namespace, "*"), count=1000):
        blob = client.hget(key, "s")
        if isinstance(blob, bytes):
            state = decode_state(blob)
            if state.schedule == SCHEDULE:
                jobs.append(state)
    return jobs


def starts(client: redis.Redis, namespace: str, job_id: str) -> int:
    raws = client.lrange(keys.history(namespace, job_id), 0, -1)
    events = [decode_event(raw) for raw in raws if isinstance(raw, bytes)]
    return sum(event.event == h.JOB_STARTED for event in events)


@pytest.mark.timeout(150)  # a hang guard only: the waits below fail sooner, naming what is missing
def test_each_fire_makes_exactly_one_job_through_the_leaders_sigkill(topology: tuple[LocalTopology, str]) -> None:
    system, namespace = topology
    url = system.urls[0]
    nodes = system.node_processes
    leader = until(lambda: next((i for i, n in enumerate(nodes) if LEADS in n.output()), None), "scheduler leader")
    first = until(lambda: last_fire(url), "first fire")
    until(lambda: (last_fire(url) or 0) >= first + BEFORE_KILL - 1 or None, f"{BEFORE_KILL} fires")

    system.kill_node(leader)
    killed_at = time.time()
    survivor = nodes[1 - leader]
    until(lambda: LEADS in survivor.output() or None, "new scheduler leader", timeout=15)
    took_over = time.time() - killed_at
    last = until(lambda: f if (f := last_fire(url) or 0) >= killed_at + AFTER_KILL else None, "fires after the kill")

    client = redis.Redis.from_url(REDIS_URL)
    try:

        def all_finished() -> list[JobState] | None:
            jobs = [j for j in scheduled_jobs(client, namespace) if first <= (j.scheduled_for or 0) <= last]
            return jobs if len(jobs) >= last - first + 1 and all(j.status == "finished" for j in jobs) else None

        window = until(all_finished, "every fire's job finished", timeout=20)
        every_job = scheduled_jobs(client, namespace)
        started = {j.id: starts(client, namespace, j.id) for j in window}
    finally:
        client.close()

    fire_times = Counter(int(j.scheduled_for or 0) for j in every_job)
    late = {int(j.scheduled_for or 0): j.created_at - (j.scheduled_for or 0) for j in every_job}
    after_kill = [at for at in fire_times if at > killed_at]
    summary = (
        f"fires expected {last - first + 1} (every second from the first to the last recorded), "
        f"jobs in that window {len(window)}, scheduled jobs in all {len(every_job)}, "
        f"fire times with more than one job {sum(n > 1 for n in fire_times.values())}, "
        f"jobs started more than once {sum(n != 1 for n in started.values())}, "
        f"fires after the kill {len(after_kill)}, new leader after {took_over:.1f} s, "
        f"latest fire {max(late.values()):.2f} s late (median {sorted(late.values())[len(late) // 2]:.2f} s)"
    )
    print(f"\nscheduler crash test: {summary}")
    assert all(j.id == fire_job_id(SCHEDULE, int(j.scheduled_for or 0)) for j in every_job), summary
    assert max(fire_times.values()) == 1, summary
    assert sorted(at for at in fire_times if first <= at <= last) == list(range(first, last + 1)), summary
    assert all(n == 1 for n in started.values()), summary
    assert len(after_kill) >= AFTER_KILL - 1, summary
    assert max(late.values()) <= defaults.SCHEDULE_GRACE_SECONDS, summary
    assert all(j.state_history == {"side": "right", "completed": True} for j in window), summary
    view = get(f"{url}/api/v1/jobs/{fire_job_id(SCHEDULE, last)}")
    assert (view["status"], view["schedule"], view["scheduled_for"]) == ("finished", SCHEDULE, last), summary


def test_the_embedded_runtime_runs_a_schedule_too(embedded: Orchestrator) -> None:
    token = embedded.client_token
    first = until(lambda: last_fire(embedded.url, token), "first fire")
    last = until(lambda: f if (f := last_fire(embedded.url, token) or 0) >= first + 2 else None, "three fires")

    def views() -> list[dict[str, Any]] | None:
        found = [get(f"{embedded.url}/api/v1/jobs/{fire_job_id(SCHEDULE, at)}", token) for at in range(first, last + 1)]
        return found if all(v["status"] == "finished" for v in found) else None

    found = until(views, "the scheduled jobs finished", timeout=10)
    assert [(v["schedule"], v["scheduled_for"]) for v in found] == [(SCHEDULE, at) for at in range(first, last + 1)]
    assert all(v["result"] == {"side": "right", "completed": True} for v in found)
