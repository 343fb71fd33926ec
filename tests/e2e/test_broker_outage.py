"""A RabbitMQ outage mid-run loses no job and finishes none twice.

The avtomat processes (two nodes and the gateway) reach RabbitMQ through a TCP proxy this test
runs on a thread of its own; Redis, the SDK workers and the test's client are direct. Jobs of the
blueprints in ``blueprints_crash/`` go in at a steady rate; meanwhile the proxy aborts every
RabbitMQ connection (both ends) and refuses new ones for ``OUTAGE_FOR`` seconds, longer than
aio-pika's default reconnect interval, so the processes' first reconnect attempts fail too. Then
it lets them through again, and every job must finish, each step and each result once.

The harness is test_crash.py's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from yarl import URL

from tests.e2e.proxy import ProxyThread
from tests.e2e.servers import RABBITMQ_URL
from tests.e2e.test_crash import Load, System, audit, figures, first_problems, http_session, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

JOBS = 200  # jobs submitted
SUBMIT_RATE = 25.0  # jobs per second, steady
OUTAGE_AFTER = 3.0  # seconds after the first submission, RabbitMQ becomes unreachable...
OUTAGE_FOR = 6.0  # ...for this long (aio-pika retries a lost connection every 5 s by default)
FINISH_WITHIN = 30.0  # seconds after the later of the last submission and the end of the outage
NODES = 2


@pytest.mark.timeout(120)  # a hang guard only: the test's own deadlines fail it sooner, with figures
def test_a_broker_outage_loses_no_job_and_finishes_none_twice(tmp_path: Path) -> None:
    upstream = URL(RABBITMQ_URL)
    with ProxyThread(upstream.host or "127.0.0.1", upstream.port or 5672) as proxy:
        through_proxy = str(upstream.with_host("127.0.0.1").with_port(proxy.port))
        with running_system(tmp_path, nodes=NODES, rabbitmq_url=through_proxy) as system:
            result = asyncio.run(_outage_run(system, proxy))
    print(f"\nbroker outage test: {result}")


@dataclass(frozen=True)
class Outage:
    cut: int  # live connections aborted
    submitted: int  # jobs accepted when the outage began


async def break_the_broker_for_a_while(proxy: ProxyThread, load: Load) -> Outage:
    await asyncio.sleep(OUTAGE_AFTER)
    cut = await asyncio.to_thread(proxy.outage)
    submitted = len(load.jobs)
    await asyncio.sleep(OUTAGE_FOR)
    await asyncio.to_thread(proxy.restore)
    return Outage(cut, submitted)


async def _outage_run(system: System, proxy: ProxyThread) -> str:
    async with http_session(system) as http:
        load = Load(system, http)
        await load.wait_for_workers()
        connected = proxy.stats.accepted
        started = time.monotonic()
        last_submission = started + JOBS / SUBMIT_RATE
        over = max(last_submission, started + OUTAGE_AFTER + OUTAGE_FOR)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(load.submit_steadily(JOBS, SUBMIT_RATE, deadline=over + FINISH_WITHIN))
            chaos = tg.create_task(break_the_broker_for_a_while(proxy, load))
        views = await load.wait_all(deadline=max(time.monotonic(), over) + FINISH_WITHIN)
        wall = time.monotonic() - started

    outage, found = chaos.result(), audit(load.jobs, views)
    summary = figures(
        jobs_submitted=len(load.jobs),
        outage=f"{OUTAGE_FOR:g} s",
        connections_cut=outage.cut,
        reconnects_refused=proxy.stats.refused,
        jobs_finished=found.finished,
        duplicates_found=found.duplicates,
        wall_time=f"{wall:.1f} s",
        submitted_at_outage=outage.submitted,
        resubmitted_after_503=load.rejected,
    )
    assert outage.cut >= connected >= NODES + 1, f"not every avtomat process went through the proxy: {summary}"
    assert len(load.jobs) == JOBS, summary
    assert not found.problems, f"{summary}\n{first_problems(found)}\nlogs: {system.log_dir}"
    assert found.finished == JOBS and found.duplicates == 0, summary
    return summary
