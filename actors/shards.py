"""Which mailbox shards this node consumes (ADR 0004).

Nodes register in a membership set with a short TTL and all compute the same assignment from
the sorted live members: shard ``s`` goes to the member of rank ``s mod n``. A node consumes a
shard only while it holds the shard's lease (a lock named ``shard:<s>``), so during a hand-over
the old owner drains and releases before the new owner subscribes, and a job's messages never
run on two nodes at once. A dead node's leases lapse after ``lease`` seconds and its shards move.
Single active consumer on the queues stays as the safety net.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from actors.ports.locks import Locks, Membership
from engine import defaults
from engine.errors import Unavailable

log = logging.getLogger(__name__)

Apply = Callable[[frozenset[int]], Awaitable[None]]


def assign(members: Sequence[str], me: str, shards: int) -> frozenset[int]:
    """The shards ``me`` should own among ``members`` (same answer on every node)."""
    ranked = sorted(members)
    if me not in ranked:
        return frozenset()
    rank, count = ranked.index(me), len(ranked)
    return frozenset(s for s in range(shards) if s % count == rank)


class ShardBalancer:
    def __init__(
        self,
        locks: Locks,
        membership: Membership,
        node_id: str,
        shards: int,
        *,
        lease: float = defaults.LOCK_LEASE_SECONDS,
        period: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._locks, self._membership, self._node = locks, membership, node_id
        self._shards, self._lease, self._period = shards, lease, period
        self._sleep = sleep  # between rounds; tests inject a fake clock's
        self._tokens: dict[int, int] = {}  # owned shard -> fencing token

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._tokens)

    async def step(self, apply: Apply) -> None:
        """One round: heartbeat, renew what we own, hand over what we should not, claim what is free.

        ``apply(shards)`` must return only once the node consumes exactly ``shards`` and every
        delivery of a dropped shard has been settled; leases are released after it returns.
        """
        members = await self._membership.beat(self._node, self._lease)
        desired = assign(members, self._node, self._shards)
        for shard, token in list(self._tokens.items()):
            if not await self._locks.renew(_name(shard), self._node, token, self._lease):
                log.warning("%s lost the lease of shard %d", self._node, shard)
                del self._tokens[shard]
        leaving = {s: self._tokens.pop(s) for s in set(self._tokens) - desired}
        for shard in sorted(desired - set(self._tokens)):
            claimed = await self._locks.acquire(_name(shard), self._node, self._lease)
            if claimed is not None:
                self._tokens[shard] = claimed
        await apply(self.owned)
        for shard, token in leaving.items():
            await self._locks.release(_name(shard), self._node, token)

    async def run(self, apply: Apply) -> None:
        while True:
            try:
                await self.step(apply)
            except Unavailable as exc:
                log.warning("%s: shard balancing failed this round: %s", self._node, exc)
            await self._sleep(self._period)

    async def leave(self, apply: Apply) -> None:
        """Stop consuming, release every lease and leave the membership (a planned shutdown)."""
        await apply(frozenset())
        tokens, self._tokens = self._tokens, {}
        for shard, token in tokens.items():
            await self._locks.release(_name(shard), self._node, token)
        await self._membership.leave(self._node)


def _name(shard: int) -> str:
    return f"shard:{shard}"
