"""Signed webhooks and worker events end to end, on both runtimes: an unmodified SDK worker sends
progress and a custom ``preview`` event; the event moves the job (``event_transitions``); a
receiver that refuses its first attempts gets every webhook, each signed with ``WEBHOOK_SECRET``."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.e2e.client import Client, wait_for_file
from tests.e2e.conftest import Orchestrator, launch
from tests.support.waiting import eventually
from tests.support.webhooks import verify

pytestmark = pytest.mark.e2e

KEY = b"the e2e webhook key, 32 bytes ok"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    yield from launch(request.param, tmp_path_factory, WEBHOOK_SECRET=SECRET)


@dataclass
class Receiver:
    """Refuses (503) its first ``failures`` requests, then accepts every one."""

    failures: int
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        status = 503 if len(self.requests) < self.failures else 204
        self.requests.append((dict(request.headers), await request.read(), status))
        return web.Response(status=status)

    def accepted(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body, status in self.requests if status == 204]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver(failures=2)
    app = web.Application()
    app.router.add_post("/hook", hooks.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hooks.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield hooks
    finally:
        await runner.cleanup()


async def test_a_custom_worker_event_moves_the_job_and_every_webhook_arrives_signed(
    client: Client, sdk_worker: str, receiver: Receiver, marker_dir: Path
) -> None:
    body = {"initial_data": {"name": "cat"}, "webhook_url": receiver.url}
    job_id = await client.submit("previews", body)

    state = await client.wait(job_id)

    assert (state["status"], state["current_state"]) == ("finished", "previewed"), state
    assert state["result"]["shown"] == "cat-preview.png"
    expected = {"worker_event:progress", "worker_event:preview", "job_finished"}
    # the first two attempts were refused: their retries come within seconds
    await eventually(lambda: {p["event"] for p in receiver.accepted()} >= expected, "the webhooks", 20.0, 0.05)
    accepted = {p["event"]: p for p in receiver.accepted()}
    assert set(accepted) == expected, receiver.requests
    assert accepted["worker_event:preview"]["result"] == {"preview_url": "cat-preview.png"}
    assert accepted["worker_event:preview"]["worker_id"] == sdk_worker
    assert accepted["worker_event:progress"]["result"] == {"progress": 0.25, "message": "rendering"}
    assert accepted["job_finished"]["result"]["shown"] == "cat-preview.png"
    assert all(verify(KEY, headers, raw) for headers, raw, _ in receiver.requests)
    refused = {headers["webhook-id"] for headers, _, status in receiver.requests if status == 503}
    assert refused <= {headers["webhook-id"] for headers, _, status in receiver.requests if status == 204}
    await wait_for_file(marker_dir / f"superseded-{job_id}")  # the worker was told to stop the task

    async with client.http.get(f"{client.orch.url}/api/v1/jobs/{job_id}/history") as resp:
        history = await resp.json()
    [event] = [e for e in history if e["event"] == "worker_event"]
    assert (event["event_type"], event["moved_to"], event["worker_id"]) == ("preview", "previewed", sdk_worker)
    async with client.http.get(f"{client.orch.url}/api/v1/webhooks/failed") as resp:
        assert await resp.json() == []
