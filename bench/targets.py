"""The orchestrators under test, each a context manager that starts its processes by PID and
stops them (and cleans its namespace) on the way out, whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio as redis

from bench.servers import Servers, fresh_namespace
from bench.upstream.install import upstream_python
from transport.app.processes import Process, free_port
from transport.app.topology import LocalTopology

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = Path(__file__).resolve().parent / "blueprints"
SECRETS = {"CLIENT_TOKEN": "client-bench", "GLOBAL_WORKER_TOKEN": "worker-bench", "ORCHESTRATOR_SECRET_KEY": "s-bench"}
UPSTREAM_APP = Path(__file__).resolve().parent / "upstream" / "app.py"
UPSTREAM_REDIS_DB = 13  # upstream's keys are not namespaced: it gets a Redis database of its own
UPSTREAM_SCRIPTS = ("bench/upstream/app.py",)  # any one alive shares upstream's database and stream group
WORKER_SCRIPTS = ("bench/sdk_worker.py", "bench/raw_worker.py")  # an orphan may find a new target on its old port


@dataclass(frozen=True)
class Target:
    """A running orchestrator: where to reach it, and the PIDs whose CPU and memory count as its own."""

    name: str
    url: str
    pids: tuple[int, ...]
    uses_servers: bool  # whether RabbitMQ/Redis CPU belongs to this target's figures
    uses_rabbitmq: bool = True  # with uses_servers: False for a target on Redis alone

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
        # on by default, as upstream's: the bench's clients create jobs and read them far faster
        # than 100 calls a minute (its workers' polls that get a task would pass; idle ones would not)
        "RATE_LIMITING_ENABLED": "false",
    }


@contextlib.contextmanager
def avtomat_embedded(log_dir: Path) -> Iterator[Target]:
    """``avtomat up`` from the project venv: one process, in-memory broker and store."""
    port = free_port()
    log = log_dir / "avtomat-up.log"
    env = {**_avtomat_env(), "API_PORT": str(port)}
    with Process([str(ROOT / ".venv" / "bin" / "avtomat"), "up"], env, log, cwd=ROOT) as proc:
        url = f"http://127.0.0.1:{port}"
        proc.wait_http_ok(f"{url}/_public/status")
        yield Target("avtomat-embedded", url, (proc.pid,), uses_servers=False)


@contextlib.contextmanager
def avtomat_distributed(log_dir: Path, servers: Servers, nodes: int = 1, gateways: int = 1) -> Iterator[Target]:
    """``LocalTopology``: ``nodes`` x ``avtomat node`` + ``gateways`` x ``avtomat gateway`` on the local
    RabbitMQ and Redis, in a fresh namespace that is purged afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    namespace = fresh_namespace()
    # INFO: the RabbitMQ broker's one-line frame summary at close (bench/report.py's frames table)
    env = {**_avtomat_env(), **servers.avtomat_env(namespace), "LOG_LEVEL": "INFO"}
    topology = LocalTopology(env, nodes=nodes, gateways=gateways, log_dir=log_dir)
    try:
        topology.start()
        pids = tuple(p.pid for p in topology.gateway_processes + topology.node_processes)
        yield Target("avtomat-distributed", topology.urls[0], pids, uses_servers=True)
    finally:
        topology.stop()
        servers.purge(namespace)


def _avtomatika_env(port: int, redis_url: str) -> dict[str, str]:
    """Upstream's ``Config`` variables: the same tokens and secret as avtomat, nothing throttled."""
    return {
        **os.environ,
        **SECRETS,
        "BENCH_REDIS_URL": redis_url,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "INSTANCE_ID": f"bench-avtomatika-{port}",  # its Redis stream consumer name
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        # on by default: 100 client requests and 60 polls per minute, then 429
        "RATE_LIMITING_ENABLED": "false",
        # redis-py 8.1 reads with a 5 s socket timeout, upstream's default XREADGROUP block is 5 s
        "REDIS_STREAM_BLOCK_MS": "1000",
        # upstream ignores the poll's ?timeout=; answer within the SDK's TASK_POLL_TIMEOUT (bench/workers.py)
        "WORKER_POLL_TIMEOUT_SECONDS": "2",
    }


@contextlib.contextmanager
def avtomatika(log_dir: Path, servers: Servers) -> Iterator[Target]:
    """Upstream ``avtomatika`` (bench/upstream/app.py) from its own venv, installed on first use,
    on its own database of the local Redis, flushed before and after. Its CPU is the app process's
    (and any children's); Redis counts as for avtomat-distributed; it uses no RabbitMQ."""
    if leftovers := own_processes():
        raise RuntimeError("processes of an earlier run are still alive; stop them first:\n" + "\n".join(leftovers))
    python = upstream_python(ROOT)
    redis_url = urlsplit(servers.redis_url)._replace(path=f"/{UPSTREAM_REDIS_DB}").geturl()
    port = free_port()
    log = log_dir / "avtomatika.log"
    _flush(redis_url)
    try:
        with Process([str(python), str(UPSTREAM_APP)], _avtomatika_env(port, redis_url), log, cwd=ROOT) as proc:
            url = f"http://127.0.0.1:{port}"
            proc.wait_http_ok(f"{url}/_public/status")
            pids = (proc.pid, *_descendants(proc.pid))
            yield Target("avtomatika", url, pids, uses_servers=True, uses_rabbitmq=False)
    finally:
        _flush(redis_url)


def own_processes() -> list[str]:
    """``"<pid> <command line>"`` of the processes a run must not start beside: any upstream app,
    and any worker whose launcher is gone (an orphan of a killed run). The workers of a run going
    on at the same time are not listed."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        argv = _argv(entry)
        if len(argv) < 2:  # launched as [python, script]; not, say, a pgrep naming one
            continue
        orphan = argv[1].endswith(WORKER_SCRIPTS) and "python" not in " ".join(_argv(Path("/proc", _ppid(entry))))
        if argv[1].endswith(UPSTREAM_SCRIPTS) or orphan:
            found.append(f"{entry.name} {' '.join(argv).strip()}")
    return found


def _argv(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
    except OSError:
        return []


def _ppid(proc: Path) -> str:
    try:
        return (proc / "stat").read_text().rpartition(")")[2].split()[1]
    except (OSError, IndexError):
        return "0"


def _descendants(pid: int) -> list[int]:
    """PIDs of the children of ``pid``, and theirs."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        children.setdefault(int(_ppid(entry)), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _flush(redis_url: str) -> None:
    async def flush() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()

    asyncio.run(flush())


TargetFactory = Callable[[Path, Servers], contextlib.AbstractContextManager[Target]]


def factories() -> dict[str, TargetFactory]:
    """The targets by the name ``--targets`` takes."""
    return {
        "avtomat-embedded": lambda log_dir, _servers: avtomat_embedded(log_dir),
        "avtomat-distributed": avtomat_distributed,
        "avtomatika": avtomatika,
    }
