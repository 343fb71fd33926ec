"""Processes for the end-to-end tests: ``avtomat up`` and real avtomatika-worker SDK workers.

Each is started by PID and stopped (SIGTERM, then SIGKILL) when the module's tests are done, by the
project's one launcher (``transport.app.processes``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.servers import distributed_env, fresh_namespace, purge
from transport.app.processes import Process, free_port
from transport.app.topology import LocalTopology

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@dataclass(frozen=True)
class Orchestrator:
    url: str
    client_token: str
    worker_token: str
    secret: str
    logs: tuple[Path, ...] = ()  # the log files of its processes (their stdout and stderr)

    @property
    def client_headers(self) -> dict[str, str]:
        return {"X-Client-Token": self.client_token}


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    """avtomat as users run it: ``avtomat up`` (embedded), or two ``avtomat node`` processes and a
    ``avtomat gateway`` on RabbitMQ and Redis (distributed)."""
    yield from launch(request.param, tmp_path_factory)


def launch(runtime: str, tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[Orchestrator]:
    """Run avtomat on ``runtime`` (``embedded`` or ``distributed``) until the generator is closed;
    ``settings`` are environment variables on top of the end-to-end defaults. A module that needs
    other settings overrides ``orchestrator`` with a fixture of its own that yields from this."""
    secrets = {"CLIENT_TOKEN": "client-e2e", "GLOBAL_WORKER_TOKEN": "worker-e2e", "ORCHESTRATOR_SECRET_KEY": "s-e2e"}
    files = tmp_path_factory.mktemp("files")
    env = {
        **os.environ,
        **secrets,
        "BLUEPRINTS_DIR": str(HERE / "blueprints"),
        "OBJECT_STORE_PATH": str(files / "objects"),
        "TASK_FILES_DIR": str(files / "task-files"),
        "RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "WORKER_HEALTH_CHECK_INTERVAL_SECONDS": "5",
        # the tests read job states in tight loops, far above 100 calls a minute (rate limits are
        # tested in tests/api/test_rate_limits.py and tests/e2e/test_tenancy.py)
        "RATE_LIMITING_ENABLED": "false",
        **settings,
    }
    if runtime == "embedded":
        yield from _embedded(env, tmp_path_factory)
    else:
        yield from _distributed(env, tmp_path_factory)


def _without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def _orchestrator(url: str, env: dict[str, str], logs: tuple[Path, ...] = ()) -> Orchestrator:
    return Orchestrator(url, env["CLIENT_TOKEN"], env["GLOBAL_WORKER_TOKEN"], env["ORCHESTRATOR_SECRET_KEY"], logs)


def _embedded(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    port = free_port()
    log = tmp_path_factory.mktemp("avtomat") / "avtomat.log"
    argv = [sys.executable, "-m", "transport.app.cli", "up"]
    embedded = {**_without(env, "RABBITMQ_URL", "REDIS_URL"), "API_PORT": str(port)}
    with Process(argv, embedded, log, cwd=ROOT) as proc:
        if env.get("TLS_CERT_PATH"):  # the test's CA and client certificate are not urllib's
            proc.wait_line(" up on the embedded runtime at https://", timeout=20.0)
            yield _orchestrator(f"https://127.0.0.1:{port}", env, (log,))
            return
        proc.wait_http_ok(f"http://127.0.0.1:{port}/_public/status", timeout=20.0)
        yield _orchestrator(f"http://127.0.0.1:{port}", env, (log,))


def _distributed(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    namespace = fresh_namespace("e2e")
    env = {**env, **distributed_env(namespace)}
    topology = LocalTopology(env, nodes=2, gateways=1, log_dir=tmp_path_factory.mktemp("topology"))
    try:
        topology.start()
        logs = tuple(p.log for p in (*topology.gateway_processes, *topology.node_processes))
        yield _orchestrator(topology.urls[0], env, logs)
    finally:
        topology.stop()
        purge(namespace)


@pytest.fixture
async def client(orchestrator: Orchestrator) -> AsyncIterator[Client]:
    """A client of ``orchestrator`` (the module's own, where a module overrides it)."""
    async with aiohttp.ClientSession(headers=orchestrator.client_headers) as http:
        yield Client(orchestrator, http)


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def sdk_worker(orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real SDK worker process; yields its worker id."""
    worker_id = "e2e-worker-1"
    with start_sdk_worker(orchestrator, worker_id, marker_dir, tmp_path_factory):
        yield worker_id


def start_sdk_worker(
    orchestrator: Orchestrator,
    worker_id: str,
    marker_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    **settings: str,
) -> Process:
    """Start ``tests/e2e/worker_app.py`` (the unmodified SDK) as ``worker_id``; ``settings`` are SDK
    environment variables on top of the end-to-end defaults. The caller stops it (``stop()``)."""
    env = {
        **os.environ,
        "WORKER_ID": worker_id,
        "WORKER_TOKEN": orchestrator.worker_token,
        "ORCHESTRATOR_URL": orchestrator.url,
        "ORCHESTRATOR_SECRET_KEY": orchestrator.secret,
        "HEARTBEAT_INTERVAL": "0.5",
        "TASK_POLL_TIMEOUT": "2",
        "IDLE_POLL_DELAY": "0.05",
        "RESULT_RETRY_INITIAL_DELAY": "0.1",
        "E2E_MARKER_DIR": str(marker_dir),
        **settings,
    }
    log = tmp_path_factory.mktemp("worker") / f"{worker_id}.log"
    return Process([sys.executable, str(HERE / "worker_app.py")], env, log, cwd=HERE).start()
