"""A node with a balancer consumes only the shards it holds, and switches when they change."""

from __future__ import annotations

import asyncio

from actors.node import Node
from actors.ports.store import WebhookDelivery
from actors.shards import ShardBalancer
from engine import routes
from engine.messages import Start, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.support.clock import FakeClock
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_locks import MemoryLocks
from transport.sharding import shard_of


async def no_webhooks(delivery: WebhookDelivery, timestamp: int) -> None:
    raise AssertionError("no webhook expected")


def key_on_shard(shard: int, shards: int) -> str:
    return next(k for n in range(10_000) if shard_of(k := f"job-{n}", shards) == shard)


async def test_a_node_consumes_only_the_shards_it_holds(clock: FakeClock) -> None:
    broker, store, locks = MemoryBroker(shards=2), MemoryStore(), MemoryLocks(clock)
    balancer = ShardBalancer(locks, locks, "me", 2, sleep=clock.held_sleep)
    # Another node holds shard 1 and is alive, so "me" gets only shard 0.
    await locks.beat("other", 60.0)
    assert await locks.acquire("shard:1", "other", 60.0) is not None
    node = Node(
        registry=BlueprintRegistry(),
        store=store,
        broker=broker,
        policy=StepPolicy(),
        sender=no_webhooks,
        clock=clock,
        balancer=balancer,
        sleep=clock.held_sleep,
    )
    mine, theirs = key_on_shard(0, 2), key_on_shard(1, 2)
    async with node:
        await balancer.step(node.reassign)
        assert node.assigned == frozenset({0})
        await broker.publish(routes.JOBS, envelope(mine, Start(), clock(), id="mine"))
        await broker.publish(routes.JOBS, envelope(theirs, Start(), clock(), id="theirs"))
        for _ in range(100):  # the job actor drops messages of unknown jobs: it consumed "mine"
            if [e.id for e in broker.pending(routes.JOBS)] == ["theirs"]:
                break
            await asyncio.sleep(0)
        assert [e.id for e in broker.pending(routes.JOBS)] == ["theirs"]

        await node.reassign(frozenset({0, 1}))
        for _ in range(100):
            if not broker.pending(routes.JOBS):
                break
            await asyncio.sleep(0)
        assert broker.pending(routes.JOBS) == []
