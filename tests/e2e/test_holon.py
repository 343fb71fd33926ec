"""Pure Holon mode end to end: two avtomats as users run them. The parent (``avtomat up``,
embedded) has a blueprint that dispatches a task whose type is a blueprint of the child; the
child (``PARENT_ORCHESTRATOR_URL`` set, client API off; embedded, or two nodes and a gateway on
RabbitMQ and Redis) runs it as a job of its own, through its own SDK worker, and answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.client import POLL, Client, wait_for_file
from tests.e2e.conftest import HERE, Orchestrator, launch, start_sdk_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

BLUEPRINTS = HERE / "blueprints_holon"
CHILD_WORKER_ID = "child-holon"


@dataclass(frozen=True)
class Holarchy:
    parent: Orchestrator
    child: Orchestrator


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def holarchy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holarchy]:
    """A parent, and a child holon working for it (with tokens of its own) on ``request.param``.
    Each child gets a fresh parent: a parent keeps a stopped child's last long poll open, and that
    poll would take the next child's first task (it then comes back only when its lease lapses)."""
    running = contextmanager(launch)
    with (
        running("embedded", tmp_path_factory, BLUEPRINTS_DIR=str(BLUEPRINTS / "parent")) as parent,
        running(
            request.param,
            tmp_path_factory,
            BLUEPRINTS_DIR=str(BLUEPRINTS / "child"),
            CLIENT_TOKEN="child-client-e2e",
            GLOBAL_WORKER_TOKEN="child-worker-e2e",
            ORCHESTRATOR_SECRET_KEY="child-s-e2e",
            ENABLE_CLIENT_API="false",
            PARENT_ORCHESTRATOR_URL=parent.url,
            PARENT_WORKER_TOKEN=parent.worker_token,
            PARENT_ORCHESTRATOR_SECRET_KEY=parent.secret,
            PARENT_WORKER_ID=CHILD_WORKER_ID,
            PARENT_HEARTBEAT_INTERVAL="0.5",
        ) as child,
    ):
        yield Holarchy(parent, child)


@pytest.fixture(scope="module")
def orchestrator(holarchy: Holarchy) -> Orchestrator:
    """The parent; the ``client`` fixture talks to it."""
    return holarchy.parent


@pytest.fixture(scope="module")
def child(holarchy: Holarchy) -> Orchestrator:
    return holarchy.child


@pytest.fixture(scope="module")
def child_worker(child: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The child's own SDK worker (the parent never sees it)."""
    proc = start_sdk_worker(child, "child-sdk-worker", marker_dir, tmp_path_factory)
    try:
        yield "child-sdk-worker"
    finally:
        proc.stop()


async def test_the_child_registers_with_the_parent_with_its_blueprints_as_skills(
    client: Client, child: Orchestrator
) -> None:
    async def registered() -> bool:
        return await _worker(client, CHILD_WORKER_ID) is not None

    await eventually(registered, "the child to register with the parent", 20.0, POLL)

    holon = await _worker(client, CHILD_WORKER_ID)
    assert holon is not None and sorted(holon["skills"]) == ["nap", "refuse", "shout"]


async def test_a_parent_job_runs_a_child_blueprint_to_its_end(client: Client, child_worker: str) -> None:
    job_id = await client.submit("delegate", {"initial_data": {"child": "shout", "params": {"text": "hello"}}})

    state = await client.wait(job_id)

    assert state["status"] == "finished", state
    assert state["current_state"] == "done"
    assert state["result"]["shouted"] == "HELLO"  # the child's final state_history, merged
    assert state["result"]["echo"] == "hello"
    assert state["result"]["worker"] == child_worker
    assert state["result"]["delegated"] is True


async def test_a_failing_child_job_is_a_failed_parent_task(client: Client, child: Orchestrator) -> None:
    job_id = await client.submit("delegate", {"initial_data": {"child": "refuse"}})

    state = await client.wait(job_id)

    assert state["status"] == "finished", state
    assert state["current_state"] == "child_failed"
    error = state["result"]["child_error"]
    assert error["code"] == "PERMANENT_ERROR"
    assert "failed" in error["message"] and "no_such_argument" in error["message"]


async def test_cancelling_the_parent_job_cancels_the_child_job_down_to_its_worker(
    client: Client, child_worker: str, marker_dir: Path
) -> None:
    before = await _markers(marker_dir, "started-*")
    job_id = await client.submit("delegate", {"initial_data": {"child": "nap"}})

    async def child_task_started() -> bool:
        return bool(await _markers(marker_dir, "started-*") - before)

    await eventually(child_task_started, "the child's worker to start the task", 20.0, POLL)
    [marker] = await _markers(marker_dir, "started-*") - before
    child_job_id = marker.name.removeprefix("started-")

    await client.cancel(job_id)

    assert (await client.wait(job_id))["status"] == "cancelled"
    await wait_for_file(marker_dir / f"cancelled-{child_job_id}")


async def test_the_child_serves_no_client_api(child: Orchestrator) -> None:
    async with aiohttp.ClientSession(headers=child.client_headers) as http:
        async with http.post(f"{child.url}/api/v1/jobs/shout", json={"initial_data": {"text": "x"}}) as resp:
            assert resp.status == 404
            assert "ENABLE_CLIENT_API=false" in (await resp.json())["error"]
        async with http.get(f"{child.url}/api/v1/jobs/anything") as resp:
            assert resp.status == 404
            assert "ENABLE_CLIENT_API=false" in (await resp.json())["error"]
        async with http.get(f"{child.url}/_public/status") as resp:
            assert resp.status == 200


async def _worker(client: Client, worker_id: str) -> dict[str, Any] | None:
    async with client.http.get(f"{client.orch.url}/api/v1/workers") as resp:
        assert resp.status == 200
        workers = await resp.json()
    return next((w for w in workers if w["worker_id"] == worker_id), None)


async def _markers(folder: Path, pattern: str) -> set[Path]:
    return set(await asyncio.to_thread(lambda: list(folder.glob(pattern))))
