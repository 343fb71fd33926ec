"""Mailbox shards are split between live nodes, each held under a lease (ADR 0004)."""

from __future__ import annotations

import pytest

from actors.shards import ShardBalancer, assign
from tests.support.clock import FakeClock
from transport.memory_locks import MemoryLocks

SHARDS = 8


@pytest.mark.parametrize("members", [["a"], ["a", "b"], ["c", "a", "b"], [f"n{i}" for i in range(5)]])
def test_every_shard_has_exactly_one_owner(members: list[str]) -> None:
    owned = [assign(members, m, SHARDS) for m in members]
    assert sorted(s for shards in owned for s in shards) == list(range(SHARDS))
    assert max(map(len, owned)) - min(map(len, owned)) <= 1


def test_a_node_that_is_not_a_member_owns_nothing() -> None:
    assert assign(["a", "b"], "z", SHARDS) == frozenset()


class Node:
    """The consuming side of a node, as ``ShardBalancer`` sees it: what it consumes."""

    def __init__(self) -> None:
        self.consuming: frozenset[int] = frozenset()

    async def apply(self, shards: frozenset[int]) -> None:
        self.consuming = shards


async def test_two_nodes_split_the_shards_and_a_dead_ones_move_after_the_lease(clock: FakeClock) -> None:
    locks = MemoryLocks(clock)
    a, b = ShardBalancer(locks, locks, "a", SHARDS, lease=3.0), ShardBalancer(locks, locks, "b", SHARDS, lease=3.0)
    node_a, node_b = Node(), Node()

    await a.step(node_a.apply)
    assert node_a.consuming == frozenset(range(SHARDS))  # alone: everything

    await b.step(node_b.apply)  # b joins; a still holds every lease, so b waits
    assert node_b.consuming == frozenset()
    await a.step(node_a.apply)  # a sees b, hands over the odd shards after draining them
    assert node_a.consuming == frozenset(range(0, SHARDS, 2))
    await b.step(node_b.apply)
    assert node_b.consuming == frozenset(range(1, SHARDS, 2))

    # a dies: it stops stepping. b takes a's shards once a's membership and leases lapsed.
    clock.advance(1.0)
    await b.step(node_b.apply)
    assert node_b.consuming == frozenset(range(1, SHARDS, 2))
    clock.advance(3.0)
    await b.step(node_b.apply)
    assert node_b.consuming == frozenset(range(SHARDS))


async def test_a_node_that_leaves_releases_its_shards_at_once(clock: FakeClock) -> None:
    locks = MemoryLocks(clock)
    a, b = ShardBalancer(locks, locks, "a", SHARDS), ShardBalancer(locks, locks, "b", SHARDS)
    node_a, node_b = Node(), Node()
    await a.step(node_a.apply)
    await b.step(node_b.apply)
    await a.step(node_a.apply)
    await b.step(node_b.apply)

    await a.leave(node_a.apply)
    assert node_a.consuming == frozenset()
    await b.step(node_b.apply)
    assert node_b.consuming == frozenset(range(SHARDS))


async def test_a_lost_lease_stops_consumption_of_that_shard(clock: FakeClock) -> None:
    locks = MemoryLocks(clock)
    a = ShardBalancer(locks, locks, "a", SHARDS, lease=3.0)
    node_a = Node()
    await a.step(node_a.apply)
    clock.advance(3.5)  # a was paused past its lease; another node grabbed shard 0 meanwhile
    assert await locks.acquire("shard:0", "intruder", 3.0) is not None
    await a.step(node_a.apply)
    assert 0 not in node_a.consuming
