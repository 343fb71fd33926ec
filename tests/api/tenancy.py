"""A gateway with ``clients.toml`` and ``workers.toml``, over the in-memory store (or any store
given), for the tenancy tests."""

from __future__ import annotations

import contextlib
import hashlib
import textwrap
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.ports.store import Store
from engine.registry import BlueprintRegistry
from tests.api.conftest import BODY_LIMIT, NOW, SECRET, WORKER_TOKEN, Gateway
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

A, B, OPS, CAPPED = "a-token", "b-token", "ops-token", "capped-token"
GPU, CPU = "gpu-token", "cpu-token"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


CLIENTS_TOML = f"""
[team_a]
token = "{A}"
plan = "premium"
rate_limit = 5
[team_a.params]
max_size = 10

[team_b]
token_sha256 = "{sha(B)}"

[ops]
token = "{OPS}"
admin = true

[capped]
token = "{CAPPED}"
jobs_per_day = 2
monthly_attempts = 3
max_running_jobs = 1
"""

WORKERS_TOML = f"""
[gpu-1]
token = "{GPU}"
skills = ["echo"]

[cpu-1]
token_sha256 = "{sha(CPU)}"
"""


def client(token: str) -> dict[str, str]:
    return {"X-Client-Token": token}


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    clients, workers = tmp_path / "clients.toml", tmp_path / "workers.toml"
    clients.write_text(textwrap.dedent(CLIENTS_TOML))
    workers.write_text(textwrap.dedent(WORKERS_TOML))
    settings = Settings(
        global_worker_token=WORKER_TOKEN,
        orchestrator_secret_key=SECRET,
        max_request_body_bytes=BODY_LIMIT,
        clients_config_path=str(clients),
        workers_config_path=str(workers),
    )
    return replace(settings, **overrides)


@contextlib.asynccontextmanager
async def tenancy_gateway(
    settings: Settings, store: Store | None = None, clock: FakeClock | None = None
) -> AsyncIterator[Gateway]:
    """A gateway app on ``store`` (a fresh in-memory one by default), started: it has published
    its workers.toml."""
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    memory = MemoryStore()
    broker, clock = MemoryBroker(), clock or FakeClock(NOW)
    app: web.Application = build_app(GatewayContext(settings, store or memory, broker, registry, clock))
    async with TestClient(TestServer(app)) as http:
        yield Gateway(http, memory if store is None else store, broker, clock, settings)  # type: ignore[arg-type]
    await broker.close()
    await memory.close()


def rewrite_workers(settings: Settings, text: str) -> None:
    """Replace the gateway's workers.toml (as an operator edits it before a reload)."""
    Path(settings.workers_config_path).write_text(text)
