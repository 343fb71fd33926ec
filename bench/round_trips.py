"""``python -m bench.round_trips``: how many Redis round trips and commands an echo job costs.

Runs the distributed runtime (node + gateway, ``avtomat up`` in this process) on the local
RabbitMQ and Redis in a fresh namespace, with one raw RXON worker process (``bench/raw_worker.py``),
and counts, in this process, every Redis round trip (a pipeline or a lone command) and every
command, by command (a script by its name) and key family. The worker does not talk to Redis.

Jobs carry a ``webhook_url`` served here, so their end is seen without polling the gateway (a
``GET`` would be Redis traffic of its own). Two phases after a warm-up: the jobs one at a time (a
lone job: nothing to pipeline with), then ``--concurrency`` at a time (pipelined across jobs).
Background traffic (lock renewals, sweepers, heartbeats) counts too; the idle rate measured for
``--idle`` seconds is printed beside, to judge it (small against the jobs' own).

Redis is shared: the counts are of this process's own calls, never server-wide ``INFO`` deltas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio.client import Pipeline, Redis

from bench.servers import Servers, fresh_namespace
from bench.targets import BLUEPRINTS, SECRETS, Target
from bench.workers import raw_workers
from engine.registry import BlueprintRegistry
from transport.app.loader import load_blueprints
from transport.app.settings import Settings
from transport.app.wiring import runtime
from transport.redis_store.client import lua


@dataclass
class Counts:
    """Round trips and commands seen since the last ``reset``."""

    round_trips: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    trips_by: Counter[str] = field(default_factory=Counter)  # a round trip counts once per command kind in it

    def reset(self) -> Counts:
        snapshot = Counts(self.round_trips, Counter(self.commands), Counter(self.trips_by))
        self.round_trips, self.commands, self.trips_by = 0, Counter(), Counter()
        return snapshot


def _script_names() -> dict[str, str]:
    names = {}
    for path in resources.files("transport.redis_store").joinpath("lua").iterdir():
        name = path.name.removesuffix(".lua")
        names[hashlib.sha1(lua(name).encode()).hexdigest()] = name
    return names


def _kind(command: tuple[Any, ...], prefix: str, scripts: dict[str, str]) -> str:
    """``EVALSHA <sha>`` as ``script:<name>``, else the command and its first key's family."""
    name = str(command[0]).upper()
    if name in ("EVALSHA", "EVAL"):
        return f"script:{scripts.get(str(command[1]), '?')}"
    if len(command) > 1 and isinstance(command[1], str | bytes):
        key = command[1].decode() if isinstance(command[1], bytes) else command[1]
        if key.startswith(prefix + ":"):
            return f"{name} {key[len(prefix) + 1 :].split(':')[0]}"
    return name


@contextlib.contextmanager
def counting(prefix: str) -> Iterator[Counts]:
    """Count every Redis round trip of this process (redis-py's asyncio client) while inside."""
    counts, scripts = Counts(), _script_names()
    lone, piped = Redis.execute_command, Pipeline.execute

    async def execute_command(self: Redis, *args: Any, **options: Any) -> Any:
        kind = _kind(args, prefix, scripts)
        counts.round_trips += 1
        counts.commands[kind] += 1
        counts.trips_by[kind] += 1
        return await lone(self, *args, **options)  # type: ignore[no-untyped-call]

    async def execute(self: Pipeline, raise_on_error: bool = True) -> Any:
        kinds = [_kind(tuple(c[0]), prefix, scripts) for c in self.command_stack]
        if kinds:
            counts.round_trips += 1
            counts.commands.update(kinds)
            counts.trips_by.update(set(kinds))
        return await piped(self, raise_on_error)

    Redis.execute_command = execute_command  # type: ignore[method-assign]
    Pipeline.execute = execute  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Redis.execute_command = lone  # type: ignore[method-assign]
        Pipeline.execute = piped  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def webhook_sink() -> AsyncIterator[tuple[str, dict[str, asyncio.Future[None]]]]:
    """An HTTP endpoint that resolves ``waiting[job_id]`` when the job's end is posted."""
    waiting: dict[str, asyncio.Future[None]] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        future = waiting.get(body.get("job_id", ""))
        if future is not None and not future.done():
            future.set_result(None)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", waiting
    finally:
        await runner.cleanup()


async def run_jobs(
    session: aiohttp.ClientSession, url: str, hook: str, waiting: dict[str, asyncio.Future[None]], n: int, conc: int
) -> None:
    gate = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with gate:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            headers = {"X-Client-Token": SECRETS["CLIENT_TOKEN"]}
            body = {"n": i, "webhook_url": hook}
            async with session.post(f"{url}/api/v1/jobs/bench_echo", json=body, headers=headers) as resp:
                resp.raise_for_status()
                job_id = (await resp.json())["job_id"]
            waiting[job_id] = future
            async with asyncio.timeout(30):
                await future
            del waiting[job_id]

    await asyncio.gather(*(one(i) for i in range(n)))


def _table(title: str, counts: Counts, jobs: int, seconds: float, idle: Counts, idle_seconds: float) -> str:
    scale = seconds / idle_seconds if idle_seconds else 0.0
    lines = [f"\n{title}: {jobs} jobs in {seconds:.2f} s"]
    lines.append(
        f"  per job: {counts.round_trips / jobs:.2f} round trips, {sum(counts.commands.values()) / jobs:.2f} commands"
        f"  (idle background over the same time: {idle.round_trips * scale / jobs:.2f} round trips,"
        f" {sum(idle.commands.values()) * scale / jobs:.2f} commands per job)"
    )
    lines.append(f"  {'command':<36} {'per job':>8} {'trips/job':>10}")
    for kind, count in counts.commands.most_common():
        lines.append(f"  {kind:<36} {count / jobs:>8.2f} {counts.trips_by[kind] / jobs:>10.2f}")
    return "\n".join(lines)


async def _phases(
    args: argparse.Namespace, counts: Counts, url: str, hook: str, waiting: dict[str, asyncio.Future[None]]
) -> None:
    async with aiohttp.ClientSession() as session:
        await run_jobs(session, url, hook, waiting, args.warmup, args.concurrency)
        counts.reset()
        await asyncio.sleep(args.idle)
        idle = counts.reset()
        for title, conc in (("one at a time", 1), (f"{args.concurrency} at a time", args.concurrency)):
            started = time.monotonic()
            await run_jobs(session, url, hook, waiting, args.jobs, conc)
            seconds = time.monotonic() - started
            print(_table(title, counts.reset(), args.jobs, seconds, idle, args.idle), flush=True)


async def main(args: argparse.Namespace) -> None:
    servers, namespace = Servers(), fresh_namespace()
    env = {**os.environ, **SECRETS, **servers.avtomat_env(namespace), "API_HOST": "127.0.0.1", "API_PORT": "0"}
    env["LOG_LEVEL"] = "WARNING"
    env["RATE_LIMITING_ENABLED"] = "false"  # the job's own round trips; the limiter adds one per request
    settings = Settings.from_env(env)
    registry = BlueprintRegistry()
    load_blueprints(BLUEPRINTS, registry)
    try:
        with counting(namespace) as counts:
            async with runtime(settings, registry) as rt, webhook_sink() as (hook, waiting):
                assert rt.url is not None
                target = Target("round-trips", rt.url, (os.getpid(),), uses_servers=True)
                with tempfile.TemporaryDirectory() as logs:
                    workers = raw_workers(target, 1, Path(logs), pollers=args.pollers)
                    await asyncio.to_thread(workers.__enter__)
                    try:
                        await _phases(args, counts, rt.url, hook, waiting)
                    finally:
                        await asyncio.to_thread(workers.__exit__, None, None, None)
    finally:
        await servers.delete_keys(namespace)
        await servers._purge(namespace)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.round_trips", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="jobs in flight in the second phase")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of idle background measured")
    parser.add_argument("--pollers", type=int, default=16, help="concurrent polls of the raw worker")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
