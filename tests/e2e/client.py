"""What a user's program does over the client API, for the end-to-end tests (the ``client``
fixture in ``conftest.py`` hands one to each test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from tests.e2e.conftest import Orchestrator

TERMINAL = {"finished", "failed", "quarantined", "cancelled"}
POLL = 0.05  # how often a client reads the job again: the API has no push to wait on


class Client:
    """Submit, read, cancel; and read a job again, as a client would, until it is where wanted."""

    def __init__(self, orch: Orchestrator, http: aiohttp.ClientSession) -> None:
        self.orch, self.http = orch, http

    async def submit(self, path: str, body: dict[str, Any]) -> str:
        async with self.http.post(f"{self.orch.url}/api/v1/jobs/{path}", json=body) as resp:
            assert resp.status == 202, await resp.text()
            reply = await resp.json()
        assert reply["status"] == "accepted"
        return str(reply["job_id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.orch.url}/api/v1/jobs/{job_id}") as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def cancel(self, job_id: str) -> None:
        async with self.http.post(f"{self.orch.url}/api/v1/jobs/{job_id}/cancel") as resp:
            assert resp.status == 200, await resp.text()

    async def until(
        self, job_id: str, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Read the job until ``condition`` holds for what GET answers; return that answer. The
        condition may assert, to fail at once on a state the job must not reach."""
        deadline = time.monotonic() + timeout
        while not condition(state := await self.job(job_id)):
            assert time.monotonic() < deadline, f"job never {what}: {state}"
            await asyncio.sleep(POLL)
        return state

    async def reach(self, job_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        """Read the job until its status is ``status``; one that ends in another fails at once."""

        def reached(state: dict[str, Any]) -> bool:
            assert state["status"] == status or state["status"] not in TERMINAL, state
            return bool(state["status"] == status)

        return await self.until(job_id, reached, f"became {status}", timeout)

    async def wait(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Read the job until it is over."""
        return await self.until(job_id, lambda state: state["status"] in TERMINAL, "ended", timeout)


async def wait_for_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(POLL)
