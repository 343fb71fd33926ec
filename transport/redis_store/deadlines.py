"""Deadlines on Redis: a sorted set (envelope id -> ``at``) beside a hash of the items.

A job's own deadlines go in with its commit (``jobs``, the same layout, ``deadline_args``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec
from redis.typing import EncodableT

from actors.ports.store import Scheduled
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder

_scheduled = msgspec.msgpack.Decoder(Scheduled)


def deadline_args(item: Scheduled) -> list[EncodableT]:
    """A deadline as schedule.lua and commit_job.lua take it: envelope id, time, the item itself."""
    return [item.envelope.id, repr(item.at), encoder.encode(item)]


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisDeadlines(RedisPart):
    """``DeadlineStore`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._schedule, self._unschedule = client.script("schedule"), client.script("unschedule")
        self._due = client.script("due")

    async def schedule(self, item: Scheduled) -> None:
        """Add a deadline unless its envelope id is scheduled (then a no-op, whatever ``at``); one script."""
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        await self._batch.script(self._schedule, deadline_keys, deadline_args(item))

    async def due(self, now: float, limit: int) -> list[Scheduled]:
        """Deadlines with ``at <= now``, earliest first (equal times by envelope id); not removed."""
        if limit <= 0:
            return []
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        raws: list[bytes] = await self._due(keys=deadline_keys, args=[repr(now), limit])
        return [_scheduled.decode(raw) for raw in raws]

    async def unschedule(self, envelope_ids: Sequence[str]) -> None:
        """Remove deadlines (unknown ids are ignored); one script. The id may be scheduled again afterwards."""
        if not envelope_ids:
            return
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        await self._batch.script(self._unschedule, deadline_keys, list(envelope_ids))

    async def next_due(self) -> float | None:
        head = cast(
            "list[tuple[bytes, float]]", await self._redis.zrange(keys.deadlines(self._prefix), 0, 0, withscores=True)
        )
        return head[0][1] if head else None
