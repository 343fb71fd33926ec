"""The ``ParentLink`` implementations as conformance cases, each with a driver for the parent's
side: queue a task for the worker, cancel it, lose the worker's registration.

- ``memory``: ``MemoryParent``, driven directly.
- ``rxon``: ``RxonParent`` against a real avtomat gateway (in-memory store and broker, served by
  aiohttp's test server on the real clock, signing its tasks); the driver stores the job a task
  belongs to and queues the task as the router would. Nothing consumes the broker.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer
from rxon.models import TaskPayload

from actors.ports.parent import ParentLink
from engine.job import CANCELLED, WAITING_FOR_WORKER, JobState, TaskState
from engine.messages import TaskOffer
from engine.registry import BlueprintRegistry
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_parent import MemoryParent
from transport.parent import RxonParent

WORKER_ID = "holon-1"
WORKER_TOKEN = "parent-worker-token"
SECRET = "parent-secret"


@dataclass(frozen=True)
class Offered:
    job_id: str
    task_id: str


@dataclass(frozen=True)
class ParentCase:
    link: ParentLink
    offer: Callable[[str, dict[str, Any]], Awaitable[Offered]]  # (skill, params) -> the task's ids
    cancel: Callable[[Offered], Awaitable[None]]  # the parent no longer wants the task
    forget: Callable[[], Awaitable[None]]  # the parent lost the worker's registration


def _ids() -> Offered:
    return Offered(job_id=f"job-{uuid.uuid4().hex[:8]}", task_id=f"task-{uuid.uuid4().hex[:8]}")


@contextlib.asynccontextmanager
async def memory_case() -> AsyncIterator[ParentCase]:
    parent = MemoryParent(worker_id=WORKER_ID)

    async def offer(skill: str, params: dict[str, Any]) -> Offered:
        ids = _ids()
        await parent.offer(TaskPayload(job_id=ids.job_id, task_id=ids.task_id, type=skill, params=params))
        return ids

    async def cancel(offered: Offered) -> None:
        parent.cancel(offered.task_id)

    async def forget() -> None:
        parent.forget()

    yield ParentCase(parent, offer, cancel, forget)


@contextlib.asynccontextmanager
async def rxon_case() -> AsyncIterator[ParentCase]:
    settings = Settings(
        client_token="parent-client-token", global_worker_token=WORKER_TOKEN, orchestrator_secret_key=SECRET
    )
    store, broker = MemoryStore(), MemoryBroker()
    server = TestServer(build_app(GatewayContext(settings, store, broker, BlueprintRegistry(), time.time)))
    await server.start_server()

    async def offer(skill: str, params: dict[str, Any]) -> Offered:
        ids, now = _ids(), time.time()
        task = TaskState(id=ids.task_id, type=skill, params=params, transitions={"success": "done"})
        job = JobState(
            id=ids.job_id,
            blueprint="parent",
            client_id="c",
            current_state="start",
            initial_data={},
            created_at=now,
            updated_at=now,
            status=WAITING_FOR_WORKER,
            task=task,
        )
        assert await store.create_job(job)
        await store.push_task(TaskOffer(job_id=ids.job_id, task_id=ids.task_id, type=skill, params=params))
        return ids

    async def cancel(offered: Offered) -> None:
        job = await store.load_job(offered.job_id)
        assert job is not None
        job.status, job.task = CANCELLED, None
        await store.commit_job(job, job.version)

    async def forget() -> None:
        record = await store.get_worker(WORKER_ID)
        assert record is not None
        record.expires_at = time.time() - 1
        await store.put_worker(record)

    try:
        async with RxonParent(str(server.make_url("")), WORKER_ID, WORKER_TOKEN, secret=SECRET) as link:
            yield ParentCase(link, offer, cancel, forget)
    finally:
        await server.close()
        await broker.close()
        await store.close()


PARENTS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[ParentCase]]] = {
    "memory": memory_case,
    "rxon": rxon_case,
}
