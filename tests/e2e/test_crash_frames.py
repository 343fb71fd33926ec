"""A node SIGKILLed while it holds a half-applied multi-envelope frame loses no envelope and
applies none twice (ADR 0013).

One node consumes a single job shard, so the gateway's start messages share one lane and leave
in frames when submitted in a burst. Every ``SLOW_EVERY``-th job's start handler sleeps
(blueprints_crash/slow.py): while it sleeps, the other envelopes of its frame are applied and
committed, but the frame cannot be acked. The node is killed then and restarted: the frame comes
back whole, its applied envelopes are recognised by envelope id, and every job must finish with
each step once. The gateway's frame counters (logged at its close) show the batching happened.

Shares the harness of test_crash.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from aio_pika.abc import AbstractIncomingMessage

from engine import routes
from engine.messages import decode
from tests.e2e.servers import QUEUE_TYPE
from tests.e2e.test_crash import Flow, Load, System, audit, figures, first_problems, http_session, running_system
from tests.support.servers import RABBITMQ_URL
from transport.frames import FRAME_CONTENT_TYPE, split_frame
from transport.names import route_names

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

FLOW = Flow("crash_slow", ("start", "a", "b"), tasks=1)
BURST = 48  # jobs submitted at once
SLOW_EVERY = 3  # job i is slow when i % SLOW_EVERY == 1
APPLIED_WITHIN = 3.0  # seconds (below the slow handler's 4 s): the fast jobs' starts are applied by then
DOWN_FOR = 1.0
FINISH_WITHIN = 40.0
SUMMARY = re.compile(r"published (\d+) envelopes in (\d+) frames")


@pytest.mark.timeout(120)
def test_sigkill_with_a_half_applied_frame_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    marks = tmp_path / "slow-marks"
    marks.mkdir()
    settings = {"JOB_SHARDS": "1", "SLOW_MARKS_DIR": str(marks)}
    with running_system(tmp_path, nodes=1, settings=settings) as system:
        result = asyncio.run(_run(system, marks))
    envelopes, frames = _gateway_frames(tmp_path / "gateway-0.log")
    assert frames < envelopes, f"the gateway sent no multi-envelope frame: {envelopes} envelopes in {frames}"
    print(f"\nframe crash test: {result}, gateway: {envelopes} envelopes in {frames} frames")


async def _run(system: System, marks: Path) -> str:
    async with http_session(system) as http:
        load = Load(system, http)
        await load.wait_for_workers()
        ids = await asyncio.gather(*(_submit(http, system, slow=i % SLOW_EVERY == 1) for i in range(BURST)))
        load.jobs = {job_id: FLOW for job_id, _ in ids}
        slow = {job_id for job_id, is_slow in ids if is_slow}
        fast = set(load.jobs) - slow
        held = await _wait_for_a_half_applied_frame(http, system, fast, slow, marks)
        await asyncio.to_thread(system.topology.kill_node, 0)
        mixed = await _mixed_frames_returned(system, fast, slow)
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(system.topology.restart_node, 0)
        views = await load.wait_all(deadline=time.monotonic() + FINISH_WITHIN)

    found = audit(load.jobs, views, system.task_runs())
    summary = figures(
        jobs=len(load.jobs),
        slow_jobs_running_at_kill=held,
        frames_returned_with_applied_and_unapplied_envelopes=mixed,
        jobs_finished=found.finished,
        duplicates=found.duplicates,
    )
    assert mixed > 0, f"the kill hit no half-applied multi-envelope frame: {summary}"
    assert not found.problems, f"{summary}\n{first_problems(found)}\nlogs: {system.log_dir}"
    assert found.finished == BURST and found.duplicates == 0, summary
    return summary


async def _submit(http: aiohttp.ClientSession, system: System, *, slow: bool) -> tuple[str, bool]:
    body = {"initial_data": {"slow": slow}}
    async with http.post(f"{system.url}/api/v1/jobs/{FLOW.path}", json=body) as resp:
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["job_id"]), slow


async def _wait_for_a_half_applied_frame(
    http: aiohttp.ClientSession, system: System, fast: set[str], slow: set[str], marks: Path
) -> int:
    """Return (the number of slow handlers running) once every fast job's start is applied while
    slow starts are still running, unapplied: the node holds frames it cannot ack yet."""
    deadline = time.monotonic() + APPLIED_WITHIN
    while True:
        views = await _views(http, system, fast | slow)
        applied = {job_id for job_id, view in views.items() if view["current_state"] not in (None, "start")}
        running = set(await asyncio.to_thread(os.listdir, marks)) & slow
        if fast <= applied and running:
            assert not (running & applied), "a slow start finished before the kill: raise SLOW_SECONDS"
            return len(running)
        assert time.monotonic() < deadline, f"{len(applied & fast)}/{len(fast)} fast starts applied, {running=}"
        await asyncio.sleep(0.05)


async def _mixed_frames_returned(system: System, fast: set[str], slow: set[str]) -> int:
    """Read (unacked, so they stay) the messages the killed node's death returned to the job
    queue; count the frames holding both a slow start and an applied fast one."""
    namespace = system.topology.env["AVTOMAT_NAMESPACE"]
    queue_name = route_names(namespace, routes.JOBS, QUEUE_TYPE, 1).shard_queues[0]
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        received: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        queue = await channel.get_queue(queue_name, ensure=False)
        await queue.consume(received.put)
        mixed, waiting_for = 0, set(slow)
        while waiting_for:  # every slow start is still in the queue: it was never acked
            message = await asyncio.wait_for(received.get(), 10.0)
            framed = message.content_type == FRAME_CONTENT_TYPE
            keys = {decode(body).key for body in (split_frame(message.body) if framed else [message.body])}
            waiting_for -= keys
            mixed += bool(message.redelivered and keys & slow and keys & fast)
        return mixed
    finally:
        await connection.close()  # nothing acked: all of it goes back for the restarted node


async def _views(http: aiohttp.ClientSession, system: System, job_ids: set[str]) -> dict[str, dict[str, Any]]:
    async def read(job_id: str) -> tuple[str, dict[str, Any]]:
        async with http.get(f"{system.url}/api/v1/jobs/{job_id}") as resp:
            assert resp.status == 200, await resp.text()
            return job_id, dict(await resp.json())

    return dict(await asyncio.gather(*(read(job_id) for job_id in job_ids)))


def _gateway_frames(log: Path) -> tuple[int, int]:
    """(envelopes, frames) the gateway published, from the summary its broker logs at close."""
    matches = SUMMARY.findall(log.read_text())
    assert matches, f"no frame summary in {log}"
    envelopes, frames = matches[-1]
    return int(envelopes), int(frames)
