"""The seed's "Quick Start: Usage as a Library" program, run as its user runs it.

``seed_quickstart/my_app.py`` is the seed README's program verbatim except its import lines
(avtomatika's four become ``from engine import ...`` and ``from transport.app.embedding import
...``). It sets no port, so ``Config`` takes ``API_PORT`` from the environment, as upstream's does.
``seed_quickstart/run_app.py`` serves the same engine with the blocking ``engine.run()``.
Also here: ``RedisStorage`` in-process on the distributed runtime (real RabbitMQ and Redis).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from engine import ActionFactory, StateMachineBlueprint
from tests.e2e.client import Client
from tests.e2e.conftest import ROOT, Orchestrator
from tests.e2e.servers import distributed_env, fresh_namespace, purge
from transport.app.embedding import Config, OrchestratorEngine, RedisStorage
from transport.app.processes import Process, free_port

pytestmark = pytest.mark.e2e

PROGRAMS = Path(__file__).parent / "seed_quickstart"
CLIENT_TOKEN = "my-secret-client-token"  # what the seed's program sets in code
UNSET = {"RABBITMQ_URL", "REDIS_URL", "BLUEPRINTS_DIR", "CLIENT_TOKEN", "GLOBAL_WORKER_TOKEN", "ENVIRONMENT", "ENV"}


# A child inherits an ignored SIGINT (pytest started in the background), and Python then raises no
# KeyboardInterrupt, on which the seed's program stops: install Python's own handler, then run the
# program as ``python PROGRAM`` would.
RUN_WITH_SIGINT = (
    "import os, runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; sys.path[0] = os.path.dirname(sys.argv[0]); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


async def _one_job(url: str) -> str:
    """Submit a job to the seed's blueprint and read it until it finishes; returns its id."""
    orchestrator = Orchestrator(url, CLIENT_TOKEN, "", "")
    async with aiohttp.ClientSession(headers=orchestrator.client_headers) as http:
        client = Client(orchestrator, http)
        job_id = await client.submit("my_flow", {"initial_data": {"name": "Ada"}})
        state = await client.reach(job_id, "finished")
    assert state["current_state"] == "end"
    return job_id


@dataclass(frozen=True)
class Program:
    url: str
    process: Process


@pytest.fixture
def program(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Program]:
    """``seed_quickstart/<request.param>`` running on a free port; stopped if a test leaves it running."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(API_PORT=str(port), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-c", RUN_WITH_SIGINT, str(PROGRAMS / request.param)]
    with Process(argv, env, tmp_path / "program.log", cwd=tmp_path) as process:
        url = f"http://127.0.0.1:{port}"
        process.wait_http_ok(f"{url}/_public/status", timeout=20.0)
        yield Program(url, process)


@pytest.mark.parametrize(
    ("program", "sig", "last_line"),
    [("my_app.py", signal.SIGINT, "Stopping server."), ("run_app.py", signal.SIGTERM, None)],
    ids=["start-stop-sigint", "run-sigterm"],
    indirect=["program"],
)
async def test_the_seed_quick_start_runs_a_job_and_stops_cleanly(
    program: Program, sig: signal.Signals, last_line: str | None
) -> None:
    job_id = await _one_job(program.url)
    program.process.signal(sig)
    assert program.process.popen is not None
    returncode = await asyncio.to_thread(program.process.popen.wait, 15)
    output = program.process.output()
    assert returncode == 0, output
    assert f"Job {job_id} | Start: {{'name': 'Ada'}}" in output
    assert f"Job {job_id} | Complete." in output
    assert "Traceback" not in output
    if last_line:
        assert output.rstrip().endswith(last_line), output


def test_redis_storage_runs_the_distributed_runtime() -> None:
    """``RedisStorage`` given a redis client, as upstream's is, with ``RABBITMQ_URL`` from config."""
    namespace = fresh_namespace("embed")
    env = distributed_env(namespace)  # skips (locally) or fails (CI) without the servers
    try:
        asyncio.run(_distributed_job(env))
    finally:
        purge(namespace)


async def _distributed_job(env: dict[str, str]) -> None:
    config = Config({"API_PORT": "0", "ORCHESTRATOR_SECRET_KEY": "s-embed", "GLOBAL_WORKER_TOKEN": "w-embed"})
    for name in ("RABBITMQ_URL", "AVTOMAT_NAMESPACE", "JOB_SHARDS", "RABBITMQ_QUEUE_TYPE"):
        setattr(config, name, env[name])
    config.CLIENT_TOKEN = CLIENT_TOKEN
    client = Redis.from_url(env["REDIS_URL"])
    engine = OrchestratorEngine(RedisStorage(client), config)
    engine.register_blueprint(_seed_blueprint())
    try:
        await engine.start()
        assert engine.settings is not None
        assert engine.settings.distributed
        assert engine.url is not None
        await _one_job(engine.url)
    finally:
        await engine.stop()
        await client.aclose()


def _seed_blueprint() -> StateMachineBlueprint:
    bp = StateMachineBlueprint(name="my_first_blueprint", api_version="v1", api_endpoint="/jobs/my_flow")

    @bp.handler_for("start", is_start=True)
    async def start_handler(actions: ActionFactory) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end_handler() -> None: ...

    return bp
