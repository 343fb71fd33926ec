"""The broker contract the actors depend on; the in-memory and RabbitMQ brokers implement it.

Semantics every implementation must honour (the conformance suite checks them):

- ``publish`` returns once the broker has taken responsibility for the message (publisher
  confirm); messages are durable.
- Messages of one ``key`` on one route keep their publish order (job mailboxes are sharded by a
  stable hash of the key; one active consumer per shard).
- A delivery stays unacknowledged until ``ack``; ``nack(requeue=True)`` or a consumer that goes
  away redelivers it with ``redelivered=True``. At most ``prefetch`` deliveries are in flight.
- ``nack(requeue=False)`` dead-letters the message where it can be inspected.
- Every route has the same number of shards (``shards`` of the broker); a consumer may take a
  subset of them, which is how nodes split the mailboxes between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from engine.messages import Envelope


class Delivery(Protocol):
    envelope: Envelope
    redelivered: bool
    delivery_count: int

    async def ack(self) -> None: ...

    async def nack(self, requeue: bool = True) -> None: ...


class Consumer(Protocol):
    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def cancel(self) -> None:
        """Stop receiving: the iteration ends; deliveries in hand can still be acked. Idempotent."""

    async def close(self) -> None:
        """Cancel, and return every unacknowledged delivery to the queue. Idempotent."""


class Publisher(Protocol):
    async def publish(self, route: str, env: Envelope) -> None: ...


class Broker(Publisher, Protocol):
    def consume(self, route: str, *, prefetch: int, shards: Sequence[int] | None = None) -> Consumer:
        """Consume the route's shard queues ``shards`` (all of them when None)."""

    async def close(self) -> None: ...
