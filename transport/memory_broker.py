"""The in-memory broker: RabbitMQ's delivery semantics, in one process.

Every route has ``shards`` queues; a message goes to the shard of its key, so one key's
messages keep their order. A consumer takes all shards or a subset. Like a single-active-consumer
queue, a shard delivers to one consumer at a time (the oldest still open among those that took
it). Deliveries stay unacknowledged until ``ack``; ``nack`` or a closing consumer puts them back
at the head of their shard, marked redelivered. Messages are kept encoded, so nothing is shared
by reference between publisher and consumer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from engine import defaults
from engine.messages import Envelope, decode, encode
from transport.sharding import shard_of


@dataclass(slots=True)
class _Message:
    body: bytes
    delivery_count: int = 0


@dataclass(slots=True)
class _Route:
    shards: list[deque[_Message]]
    consumers: list[MemoryConsumer] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    dead: list[Envelope] = field(default_factory=list)


class MemoryBroker:
    def __init__(self, shards: int = defaults.JOB_SHARDS) -> None:
        self._shards = shards
        self._routes: dict[str, _Route] = {}
        self._consumers: list[MemoryConsumer] = []

    def _route(self, name: str) -> _Route:
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = _Route([deque() for _ in range(self._shards)])
        return route

    async def publish(self, route: str, env: Envelope) -> None:
        r = self._route(route)
        r.shards[shard_of(env.key, self._shards)].append(_Message(encode(env)))
        async with r.changed:
            r.changed.notify_all()

    @property
    def shards(self) -> int:
        return self._shards

    def consume(self, route: str, *, prefetch: int, shards: Sequence[int] | None = None) -> MemoryConsumer:
        selected = frozenset(range(self._shards) if shards is None else shards)
        consumer = MemoryConsumer(self, self._route(route), prefetch, selected)
        self._route(route).consumers.append(consumer)
        self._consumers.append(consumer)
        return consumer

    def pending(self, route: str) -> list[Envelope]:
        """Published, not yet delivered envelopes of ``route`` (for tests and inspection)."""
        return [decode(m.body) for shard in self._route(route).shards for m in shard]

    def dead_letters(self, route: str) -> list[Envelope]:
        return list(self._route(route).dead)

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()


class MemoryDelivery:
    def __init__(self, consumer: MemoryConsumer, shard: int, message: _Message) -> None:
        self._consumer, self._shard, self._message = consumer, shard, message
        self.envelope = decode(message.body)
        self.delivery_count = message.delivery_count
        self.redelivered = message.delivery_count > 1
        self._settled = False

    async def ack(self) -> None:
        await self._settle(None)

    async def nack(self, requeue: bool = True) -> None:
        await self._settle(requeue)

    async def _settle(self, requeue: bool | None) -> None:
        if self._settled:
            return
        self._settled = True
        await self._consumer._settle(self, requeue)


class MemoryConsumer:
    def __init__(self, broker: MemoryBroker, route: _Route, prefetch: int, shards: frozenset[int]) -> None:
        self._broker, self._route, self._prefetch, self._shards = broker, route, prefetch, shards
        self._unacked: list[MemoryDelivery] = []
        self._cancelled = False
        self._closed = False
        self._cursor = 0  # round-robin over shards, so a busy shard cannot starve the others

    def __aiter__(self) -> AsyncIterator[MemoryDelivery]:
        return self._deliveries()

    async def _deliveries(self) -> AsyncIterator[MemoryDelivery]:
        route = self._route
        while True:
            async with route.changed:
                await route.changed.wait_for(lambda: self._cancelled or self._next_shard() is not None)
                if self._cancelled:
                    return
                shard = self._next_shard()
                assert shard is not None
                message = route.shards[shard].popleft()
            message.delivery_count += 1
            delivery = MemoryDelivery(self, shard, message)
            self._unacked.append(delivery)
            yield delivery

    def _next_shard(self) -> int | None:
        """A non-empty shard this consumer is the active consumer of, round-robin."""
        if len(self._unacked) >= self._prefetch:
            return None
        shards = self._route.shards
        for step in range(len(shards)):
            index = (self._cursor + step) % len(shards)
            if shards[index] and self._is_active_on(index):
                self._cursor = index + 1
                return index
        return None

    def _is_active_on(self, shard: int) -> bool:
        """Single active consumer: the oldest open consumer that subscribed to the shard."""
        active = next((c for c in self._route.consumers if not c._cancelled and shard in c._shards), None)
        return active is self

    async def _settle(self, delivery: MemoryDelivery, requeue: bool | None) -> None:
        self._unacked.remove(delivery)
        if requeue:
            self._route.shards[delivery._shard].appendleft(delivery._message)
        elif requeue is False:
            self._route.dead.append(delivery.envelope)
        async with self._route.changed:
            self._route.changed.notify_all()

    async def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        if self in self._route.consumers:
            self._route.consumers.remove(self)
        async with self._route.changed:
            self._route.changed.notify_all()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.cancel()
        for delivery in reversed(list(self._unacked)):
            await delivery.nack(requeue=True)
