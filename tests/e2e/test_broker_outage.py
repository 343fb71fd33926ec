"""RabbitMQ becoming unreachable mid-run loses no job and finishes none twice.

The avtomat processes (two nodes and the gateway) reach RabbitMQ through a TCP proxy this test
runs on a thread of its own; Redis, the SDK workers and the test's client are direct. Jobs of the
blueprints in ``blueprints_crash/`` go in at a steady rate; meanwhile the proxy aborts every
RabbitMQ connection (both ends) and refuses new ones for a while, then lets them through again.
Every job must finish, each step and each result once. Two ways for the link to break:

- one long outage, longer than aio-pika's default reconnect interval (5 s), so the processes'
  first reconnect attempts are refused too;
- a flapping link: short outages, one a second, with a reconnect interval short enough that the
  processes are back in between, so many publishes are in flight when a cut comes. Before
  publishes were retried across a lost connection (d4e03ef), this lost 4-10 of the 200 jobs in
  every run: a poll's TaskStarted publish failed after the task had been taken and leased.

The harness is test_crash.py's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from yarl import URL

from tests.e2e.test_crash import Load, System, audit, figures, first_problems, http_session, running_system
from tests.support.proxy import ProxyThread
from tests.support.servers import RABBITMQ_URL

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

JOBS = 200  # jobs submitted
SUBMIT_RATE = 25.0  # jobs per second, steady: the load runs 8 s
FINISH_WITHIN = 20.0  # seconds after the later of the last submission and the last outage's end
NODES = 2
# A poll that takes a task while RabbitMQ is away waits for it to come back to publish TaskStarted;
# the SDK worker may give up on the poll first (TASK_POLL_TIMEOUT + 5 s), and then nobody runs the
# task until its lease lapses (TASK_LEASE_SECONDS, 60 s by default) and it is retried. A shorter
# lease fits that recovery into the deadline; the figures count the task runs it repeated.
TASK_LEASE_SECONDS = 5.0


@dataclass(frozen=True)
class Outages:
    """``count`` outages of ``length`` seconds, the first ``first`` s after the first submission,
    then one every ``every`` s; ``reconnect_interval`` goes into the processes' RABBITMQ_URL
    (None: aio-pika's default, 5 s)."""

    count: int
    length: float
    first: float
    every: float = 0.0
    reconnect_interval: float | None = None

    @property
    def over(self) -> float:
        """Seconds after the first submission when the last outage ends."""
        return self.first + (self.count - 1) * self.every + self.length


ONE_LONG_OUTAGE = Outages(count=1, length=6.0, first=3.0)
FLAPPING_LINK = Outages(count=8, length=0.2, first=1.0, every=1.0, reconnect_interval=0.3)


@pytest.mark.timeout(120)  # a hang guard only: the test's own deadlines fail it sooner, with figures
@pytest.mark.parametrize(
    "outages",
    [
        pytest.param(ONE_LONG_OUTAGE, id="one-long-outage"),
        pytest.param(FLAPPING_LINK, id="flapping-link"),
    ],
)
def test_a_broker_outage_loses_no_job_and_finishes_none_twice(tmp_path: Path, outages: Outages) -> None:
    upstream = URL(RABBITMQ_URL)
    with ProxyThread(upstream.host or "127.0.0.1", upstream.port or 5672) as proxy:
        through_proxy = upstream.with_host("127.0.0.1").with_port(proxy.port)
        if outages.reconnect_interval is not None:
            through_proxy = through_proxy.update_query(reconnect_interval=str(outages.reconnect_interval))
        settings = {"TASK_LEASE_SECONDS": str(TASK_LEASE_SECONDS)}
        with running_system(tmp_path, nodes=NODES, rabbitmq_url=str(through_proxy), settings=settings) as system:
            result = asyncio.run(_outage_run(system, proxy, outages))
    print(f"\nbroker outage test: {result}")


@dataclass(frozen=True)
class Cuts:
    cut: int  # live connections aborted, over all outages
    submitted: int  # jobs accepted when the first outage began


async def break_the_link(proxy: ProxyThread, load: Load, outages: Outages) -> Cuts:
    cut, submitted = 0, 0
    for n in range(outages.count):
        await asyncio.sleep(outages.first if n == 0 else outages.every - outages.length)
        cut += await asyncio.to_thread(proxy.outage)
        submitted = submitted or len(load.jobs)
        await asyncio.sleep(outages.length)
        await asyncio.to_thread(proxy.restore)
    return Cuts(cut, submitted)


async def _outage_run(system: System, proxy: ProxyThread, outages: Outages) -> str:
    async with http_session(system) as http:
        load = Load(system, http)
        await load.wait_for_workers()
        connected = proxy.stats.accepted
        started = time.monotonic()
        over = started + max(JOBS / SUBMIT_RATE, outages.over)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(load.submit_steadily(JOBS, SUBMIT_RATE, deadline=over + FINISH_WITHIN))
            chaos = tg.create_task(break_the_link(proxy, load, outages))
        views = await load.wait_all(deadline=max(time.monotonic(), over) + FINISH_WITHIN)
        wall = time.monotonic() - started

    cuts, found = chaos.result(), audit(load.jobs, views, system.task_runs())
    summary = figures(
        jobs_submitted=len(load.jobs),
        outages=f"{outages.count} x {outages.length:g} s",
        connections_cut=cuts.cut,
        reconnects_refused=proxy.stats.refused,
        jobs_finished=found.finished,
        duplicates_found=found.duplicates,
        wall_time=f"{wall:.1f} s",
        task_runs_not_applied=found.runs_not_applied,
        submitted_at_first_outage=cuts.submitted,
        resubmitted_after_503=load.rejected,
    )
    assert cuts.cut >= connected >= NODES + 1, f"not every avtomat process went through the proxy: {summary}"
    assert len(load.jobs) == JOBS, summary
    assert not found.problems, f"{summary}\n{first_problems(found)}\nlogs: {system.log_dir}"
    assert found.finished == JOBS and found.duplicates == 0, summary
    return summary
