"""Jobs run end to end: ``avtomat up`` in a subprocess, the unmodified avtomatika-worker SDK in
another, everything over HTTP exactly as users run it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.client import Client, wait_for_file

pytestmark = pytest.mark.e2e


async def test_worker_output_lands_in_result(client: Client, sdk_worker: str) -> None:
    state = await client.wait(await client.submit("branch", {"initial_data": {"side": "left", "text": "hello"}}))
    assert state["status"] == "finished", state
    assert state["current_state"] == "done"
    assert state["result"]["echo"] == "hello"
    assert state["result"]["worker"] == sdk_worker
    assert state["result"]["completed"] is True
    assert state["progress"] == 0.5


async def test_when_branch_skips_the_worker(client: Client) -> None:
    job_id = await client.submit("branch", {"initial_data": {"side": "left", "skip": True, "text": "x"}})
    state = await client.wait(job_id)
    assert state["status"] == "finished"
    assert state["result"] == {"side": "right", "completed": True}


async def test_many_jobs_all_finish(client: Client, sdk_worker: str) -> None:
    bodies = [{"initial_data": {"side": "left", "text": f"t{i}"}} for i in range(30)]
    ids = await asyncio.gather(*(client.submit("branch", body) for body in bodies))
    states = await asyncio.gather(*(client.wait(job_id) for job_id in ids))
    assert [s["status"] for s in states] == ["finished"] * 30
    assert sorted(s["result"]["echo"] for s in states) == sorted(f"t{i}" for i in range(30))


async def test_worker_exception_is_retried_then_takes_failure_transition(client: Client, sdk_worker: str) -> None:
    state = await client.wait(await client.submit("errors", {"initial_data": {"skill": "explode"}}))
    assert state["status"] == "finished"
    assert state["current_state"] == "recovered"
    assert state["result"]["recovered"] is True


async def test_no_capable_worker_fails_at_dispatch_timeout(client: Client, sdk_worker: str) -> None:
    started = time.monotonic()
    job_id = await client.submit("orphan", {"initial_data": {}, "dispatch_timeout": 1})
    assert (await client.job(job_id))["status"] in {"pending", "running", "waiting_for_worker"}
    state = await client.wait(job_id)
    assert time.monotonic() - started >= 1.0
    assert state["status"] == "failed"
    assert "nobody_has_this_skill" in state["error"]


async def test_cancel_reaches_the_worker_running_the_task(client: Client, sdk_worker: str, marker_dir: Path) -> None:
    job_id = await client.submit("slow", {"initial_data": {}})
    await wait_for_file(marker_dir / f"started-{job_id}")
    await client.cancel(job_id)
    assert (await client.wait(job_id))["status"] == "cancelled"
    await wait_for_file(marker_dir / f"cancelled-{job_id}")
    assert (await client.job(job_id))["status"] == "cancelled"


async def test_webhook_is_retried_until_the_receiver_accepts(client: Client) -> None:
    received: list[dict[str, Any]] = []
    delivered = asyncio.Event()

    async def receiver(request: web.Request) -> web.Response:
        received.append(await request.json())
        if len(received) == 1:
            return web.Response(status=503)  # the first attempt fails; avtomat must retry
        delivered.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        body = {"initial_data": {"side": "right"}, "webhook_url": f"http://127.0.0.1:{port}/hook"}
        job_id = await client.submit("branch", body)
        await asyncio.wait_for(delivered.wait(), 20)
    finally:
        await runner.cleanup()
    assert len(received) == 2
    assert received[1] == {
        "event": "job_finished",
        "job_id": job_id,
        "status": "finished",
        "result": {"side": "right", "completed": True},
        "error": None,
    }
