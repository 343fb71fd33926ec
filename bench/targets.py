"""The orchestrators under test, each a context manager that starts its processes by PID and
stops them (and cleans its namespace) on the way out, whatever happened."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.servers import Servers, fresh_namespace
from transport.topology import LocalTopology, free_port

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = Path(__file__).resolve().parent / "blueprints"
SECRETS = {"CLIENT_TOKEN": "client-bench", "GLOBAL_WORKER_TOKEN": "worker-bench", "ORCHESTRATOR_SECRET_KEY": "s-bench"}


@dataclass(frozen=True)
class Target:
    """A running orchestrator: where to reach it, and the PIDs whose CPU and memory count as its own."""

    name: str
    url: str
    pids: tuple[int, ...]
    uses_servers: bool  # whether RabbitMQ/Redis CPU belongs to this target's figures

    client_token: str = SECRETS["CLIENT_TOKEN"]
    worker_token: str = SECRETS["GLOBAL_WORKER_TOKEN"]
    secret: str = SECRETS["ORCHESTRATOR_SECRET_KEY"]


def _avtomat_env() -> dict[str, str]:
    return {
        **os.environ,
        **SECRETS,
        "BLUEPRINTS_DIR": str(BLUEPRINTS),
        "LOG_LEVEL": "WARNING",
        "API_HOST": "127.0.0.1",
    }


@contextlib.contextmanager
def avtomat_embedded(log_dir: Path) -> Iterator[Target]:
    """``avtomat up`` from the project venv: one process, in-memory broker and store."""
    port = free_port()
    log = log_dir / "avtomat-up.log"
    env = {**_avtomat_env(), "API_PORT": str(port)}
    proc = procs.launch([str(ROOT / ".venv" / "bin" / "avtomat"), "up"], env, log, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        procs.wait_http_ok(f"{url}/_public/status", proc, log)
        yield Target("avtomat-embedded", url, (proc.pid,), uses_servers=False)
    finally:
        procs.stop(proc)


@contextlib.contextmanager
def avtomat_distributed(log_dir: Path, servers: Servers, nodes: int = 1, gateways: int = 1) -> Iterator[Target]:
    """``LocalTopology``: ``nodes`` x ``avtomat node`` + ``gateways`` x ``avtomat gateway`` on the local
    RabbitMQ and Redis, in a fresh namespace that is purged afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    namespace = fresh_namespace()
    env = {**_avtomat_env(), **servers.avtomat_env(namespace)}
    topology = LocalTopology(env, nodes=nodes, gateways=gateways, log_dir=log_dir)
    try:
        topology.start()
        popens = [p.popen for p in topology.gateway_processes + topology.node_processes]
        pids = tuple(p.pid for p in popens if isinstance(p, subprocess.Popen))
        yield Target("avtomat-distributed", topology.urls[0], pids, uses_servers=True)
    finally:
        topology.stop()
        servers.purge(namespace)


TargetFactory = Callable[[Path, Servers], contextlib.AbstractContextManager[Target]]


def factories() -> dict[str, TargetFactory]:
    """The targets by the name ``--targets`` takes."""
    return {
        "avtomat-embedded": lambda log_dir, _servers: avtomat_embedded(log_dir),
        "avtomat-distributed": avtomat_distributed,
    }
