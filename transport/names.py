"""Every RabbitMQ exchange and queue name avtomat uses, built in one place.

One route (mailbox) of queue type ``classic`` under prefix ``avtomat`` is::

    exchange      avtomat.jobs          direct; routing key = shard index ("0" .. "N-1")
    shard queues  avtomat.jobs.0 ..     one per shard, bound with its own index
    dead letters  avtomat.jobs.dlx      fanout exchange the shard queues dead-letter to
                  avtomat.jobs.dead     the queue behind it, where poisoned messages wait

With ``quorum`` the base is ``avtomat.jobs.q`` (``avtomat.jobs.q.3``, ``avtomat.jobs.q.dead``...).
A queue's arguments cannot change once it exists (RabbitMQ answers PRECONDITION_FAILED), so
the type is part of the name: switching ``RABBITMQ_QUEUE_TYPE`` declares a fresh family beside
the old one instead of failing. (Drain the old family before deleting it.) Prefix and route are
restricted to letters, digits, ``_`` and ``-`` so no two (prefix, route, type) share a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QUEUE_TYPES = ("classic", "quorum")
_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class RouteNames:
    exchange: str
    shard_queues: tuple[str, ...]  # index i is bound with routing_key(i)
    dead_letter_exchange: str
    dead_letter_queue: str

    @property
    def queues(self) -> tuple[str, ...]:
        return (*self.shard_queues, self.dead_letter_queue)

    @property
    def exchanges(self) -> tuple[str, str]:
        return (self.exchange, self.dead_letter_exchange)


def routing_key(shard: int) -> str:
    return str(shard)


def route_names(prefix: str, route: str, queue_type: str, shards: int) -> RouteNames:
    """The names of ``route``'s topology; ``ValueError`` on an unusable prefix, route, type or count."""
    for what, value in (("prefix", prefix), ("route", route)):
        if not _SAFE.fullmatch(value):
            raise ValueError(f"{what} {value!r} must be letters, digits, '_' or '-'")
    if queue_type not in QUEUE_TYPES or shards < 1:
        raise ValueError(f"need a queue type in {QUEUE_TYPES} (got {queue_type!r}) and shards >= 1 (got {shards})")
    base = f"{prefix}.{route}" + (".q" if queue_type == "quorum" else "")
    return RouteNames(
        exchange=base,
        shard_queues=tuple(f"{base}.{shard}" for shard in range(shards)),
        dead_letter_exchange=f"{base}.dlx",
        dead_letter_queue=f"{base}.dead",
    )
