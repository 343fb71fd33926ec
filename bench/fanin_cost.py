"""``python -m bench.fanin_cost``: the CPU one K-branch fan-out costs the aggregator (ADR 0007).

Drives one group through ``AggregatorActor`` directly, with no broker in between (published
envelopes are collected and dropped): ``GroupStart``, then for every branch a pickup
(``TaskStarted``) and a result (``TaskDone``), as the gateway sends them, until the one
``AggregateDone``. Branches have a result timeout, so each pickup schedules a deadline, as in a
real run. Reports, per store and K, this process's CPU seconds (``time.process_time``) and wall
seconds; for Redis also the server's CPU (``INFO cpu``), which counts whatever else the server
did meanwhile.

    .venv/bin/python -m bench.fanin_cost                       # K = 100, 1000, 3000; memory and redis
    .venv/bin/python -m bench.fanin_cost --k 100,1000 --stores memory
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from actors.aggregator import AggregatorActor
from actors.ports.broker import Consumer
from actors.ports.store import Store
from bench.servers import Servers
from engine.messages import AggregateDone, BranchSpec, Envelope, GroupStart, TaskDone, TaskStarted, envelope
from engine.policy import StepPolicy
from transport.memory_store import MemoryStore
from transport.redis_store import RedisStore

SERVERS = Servers(redis_url=os.environ.get("REDIS_URL", Servers.redis_url))
GROUP, JOB = "bench-group", "bench-job"


class _Sink:
    """A broker that takes every publish and keeps only the ``AggregateDone`` envelopes."""

    def __init__(self) -> None:
        self.aggregates: list[Envelope] = []

    async def publish(self, route: str, env: Envelope) -> None:
        if isinstance(env.body, AggregateDone):
            self.aggregates.append(env)

    def consume(self, route: str, *, prefetch: int, shards: Sequence[int] | None = None) -> Consumer:
        raise NotImplementedError("the benchmark drives the actor directly")

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Cost:
    store: str
    k: int
    cpu: float
    wall: float
    server_cpu: float | None


async def drive(store: Store, k: int) -> tuple[float, float]:
    """One K-branch group from start to its ``AggregateDone``; (CPU s, wall s) of this process."""
    sink, now = _Sink(), time.time()
    actor = AggregatorActor(store, sink, StepPolicy(), time.time)
    specs = [BranchSpec(task_id=f"t{n}", type="echo", params={"n": n}, result_timeout=300.0) for n in range(k)]
    cpu, wall = time.process_time(), time.perf_counter()
    start = GroupStart(group_id=GROUP, job_id=JOB, branches=specs)
    await actor.handle(envelope(GROUP, start, now, id=f"group-start:{GROUP}"))
    for spec in specs:
        await actor.handle(envelope(GROUP, TaskStarted(spec.task_id, "w1", at=now), now))
        done = TaskDone(spec.task_id, "w1", data={"n": spec.params["n"]})
        await actor.handle(envelope(GROUP, done, now, id=f"result:{GROUP}:{spec.task_id}"))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    [aggregate] = sink.aggregates
    assert isinstance(aggregate.body, AggregateDone) and len(aggregate.body.results) == k
    return cpu, wall


@contextlib.asynccontextmanager
async def _redis_store() -> AsyncIterator[RedisStore]:
    prefix = f"avtomat-bench-fanin-{uuid.uuid4().hex[:8]}"
    store = await RedisStore.open(SERVERS.redis_url, prefix=prefix)
    try:
        yield store
    finally:
        await store.close()
        await SERVERS.delete_keys(prefix)


async def measure(store_name: str, k: int) -> Cost:
    if store_name == "memory":
        cpu, wall = await drive(MemoryStore(), k)
        return Cost(store_name, k, cpu, wall, None)
    async with _redis_store() as store:
        before = await SERVERS.redis_cpu()
        cpu, wall = await drive(store, k)
        after = await SERVERS.redis_cpu()
    server = None if before is None or after is None else after - before
    return Cost(store_name, k, cpu, wall, server)


def _ints(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanin_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=_ints, default=[100, 1000, 3000], help="branch counts (default 100,1000,3000)")
    parser.add_argument("--stores", default="memory,redis", help="memory,redis (default both)")
    args = parser.parse_args(argv)
    print(f"{'store':<7} {'K':>6} {'cpu s':>8} {'wall s':>8} {'redis cpu s':>12} {'cpu ms/branch':>14}")
    for store_name in args.stores.split(","):
        for k in args.k:
            c = await measure(store_name, k)
            server = "-" if c.server_cpu is None else f"{c.server_cpu:.2f}"
            print(f"{c.store:<7} {c.k:>6} {c.cpu:>8.2f} {c.wall:>8.2f} {server:>12} {1000 * c.cpu / c.k:>14.3f}")


if __name__ == "__main__":
    asyncio.run(main())
