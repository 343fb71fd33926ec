"""Processes for the end-to-end tests: ``avtomat up`` and real avtomatika-worker SDK workers.

Each is started by PID and stopped (SIGTERM, then SIGKILL) when the module's tests are done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.servers import distributed_env, fresh_namespace, purge
from transport.app.topology import LocalTopology

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@dataclass(frozen=True)
class Orchestrator:
    url: str
    client_token: str
    worker_token: str
    secret: str

    @property
    def client_headers(self) -> dict[str, str]:
        return {"X-Client-Token": self.client_token}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing if the process is gone already."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"avtomat exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_public/status", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"avtomat did not answer within {timeout} s:\n{log.read_text()}")


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
    env = {
        **os.environ,
        **secrets,
        "BLUEPRINTS_DIR": str(HERE / "blueprints"),
        "RETRY_BACKOFF_BASE_SECONDS": "0.05",
        "WORKER_HEALTH_CHECK_INTERVAL_SECONDS": "5",
        **settings,
    }
    if runtime == "embedded":
        yield from _embedded(env, tmp_path_factory)
    else:
        yield from _distributed(env, tmp_path_factory)


def _without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def _orchestrator(url: str, env: dict[str, str]) -> Orchestrator:
    return Orchestrator(url, env["CLIENT_TOKEN"], env["GLOBAL_WORKER_TOKEN"], env["ORCHESTRATOR_SECRET_KEY"])


def _embedded(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    port = _free_port()
    log = tmp_path_factory.mktemp("avtomat") / "avtomat.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "transport.app.cli", "up"],
            cwd=ROOT,
            env={**_without(env, "RABBITMQ_URL", "REDIS_URL"), "API_PORT": str(port)},  # embedded
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        yield _orchestrator(f"http://127.0.0.1:{port}", env)
    finally:
        stop(proc)


def _distributed(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    namespace = fresh_namespace("e2e")
    env = {**env, **distributed_env(namespace)}
    topology = LocalTopology(env, nodes=2, gateways=1, log_dir=tmp_path_factory.mktemp("topology"))
    try:
        topology.start()
        yield _orchestrator(topology.urls[0], env)
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
    proc = start_sdk_worker(orchestrator, worker_id, marker_dir, tmp_path_factory)
    try:
        yield worker_id
    finally:
        stop(proc)


def start_sdk_worker(
    orchestrator: Orchestrator,
    worker_id: str,
    marker_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """Start ``tests/e2e/worker_app.py`` (the unmodified SDK) as ``worker_id``; ``settings`` are SDK
    environment variables on top of the end-to-end defaults. The caller stops it with ``stop``."""
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
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(HERE / "worker_app.py")], cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT
        )
