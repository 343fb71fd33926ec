"""A gateway over the in-memory store and broker, served by aiohttp's test server.

The clock is fake (fixed unless a test moves it), so timestamps, signature freshness and worker
expiry are deterministic. Nothing consumes the broker: tests read what the gateway published
with ``broker.pending(route)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import SecurityContext
from rxon.security import sign_payload
from rxon.utils import json_dumps

from engine.job import WAITING_FOR_WORKER, JobState, TaskState
from engine.messages import Envelope
from engine.registry import BlueprintRegistry
from engine.routes import JOBS
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.gateway.announcer import ANNOUNCER
from transport.gateway.auth import client_id_of
from transport.memory import MemoryBroker, MemoryStore

NOW = 1_800_000_000.0
CLIENT_TOKEN = "client-token"
WORKER_TOKEN = "worker-token"
SECRET = "orchestrator-secret"
CLIENT_ID = client_id_of(CLIENT_TOKEN)
BODY_LIMIT = 4096

S = TypeVar("S", bound=msgspec.Struct)


@dataclass
class Gateway:
    http: TestClient[web.Request, web.Application]
    store: MemoryStore
    broker: MemoryBroker
    clock: FakeClock
    settings: Settings

    async def announced(self) -> None:
        """Wait for the pickups announced so far: ``TaskStarted`` goes out beside a poll's answer."""
        await self.http.app[ANNOUNCER].drain()

    def published(self, kind: type[Any] | None = None) -> list[Envelope]:
        """Envelopes published on the job mailboxes, optionally only those whose body is ``kind``."""
        return [e for e in self.broker.pending(JOBS) if kind is None or isinstance(e.body, kind)]


@pytest.fixture
async def gw() -> AsyncIterator[Gateway]:
    settings = Settings(
        client_token=CLIENT_TOKEN,
        global_worker_token=WORKER_TOKEN,
        orchestrator_secret_key=SECRET,
        max_request_body_bytes=BODY_LIMIT,
    )
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    store, broker, clock = MemoryStore(), MemoryBroker(), FakeClock(NOW)
    app = build_app(GatewayContext(settings, store, broker, registry, clock))
    async with TestClient(TestServer(app)) as http:
        yield Gateway(http, store, broker, clock, settings)
    await broker.close()
    await store.close()


# -- helpers ---------------------------------------------------------------------------------

CLIENT = {"X-Client-Token": CLIENT_TOKEN}


def worker_headers(worker_id: str, token: str = WORKER_TOKEN) -> dict[str, str]:
    return {"X-Worker-Token": token, "X-Worker-ID": worker_id, "Content-Type": "application/json"}


def sdk_signed(message: S, signer_id: str, ignore_fields: list[str] | None = None) -> S:
    """Sign ``message`` exactly as avtomatika-worker does (``_sign_payload_if_needed``)."""
    signature = sign_payload(message, WORKER_TOKEN, ignore_fields=ignore_fields)
    return msgspec.structs.replace(message, security=SecurityContext(signature=signature, signer_id=signer_id))


def wire(message: Any) -> str:
    """The JSON the rxon HTTP transport puts on the wire for ``message``."""
    return json_dumps(message)


async def put_job(
    gw: Gateway,
    *,
    job_id: str = "job-1",
    client_id: str = CLIENT_ID,
    status: str = WAITING_FOR_WORKER,
    task_id: str | None = None,
    state_history: dict[str, Any] | None = None,
) -> JobState:
    """Store a job directly, optionally waiting on task ``task_id`` of skill ``echo``."""
    task = TaskState(id=task_id, type="echo", params={}, transitions={}) if task_id else None
    state = JobState(
        id=job_id,
        blueprint="tiny",
        client_id=client_id,
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
        status=status,
        task=task,
        state_history=state_history or {},
    )
    assert await gw.store.create_job(state)
    return state


async def set_status(gw: Gateway, job_id: str, status: str) -> None:
    state = await gw.store.load_job(job_id)
    assert state is not None
    state.status = status
    await gw.store.commit_job(state, state.version)
