"""``ArchiveFeed`` on a Redis stream (``keys.archive_feed``), read by the ``keys.ARCHIVERS`` group.

- The job commits append (``lua/commit_job.lua``, ``lua/create.lua``); this side only reads.
- ``read`` is ``XREADGROUP ... >``: each entry goes to one consumer and stays in the group's
  pending list until ``ack``, which acknowledges and deletes it in one ``MULTI`` (the feed holds
  only what is not archived yet, beside the ``MAXLEN ~`` cap the commits apply).
- ``reclaim`` is ``XAUTOCLAIM``: entries pending on a consumer that died (or on this one before a
  restart) for ``idle`` seconds move to the caller.
- The group is created on connect (and again if the stream vanished, e.g. a flushed database).

Uses a connection pool of its own: a blocking read holds a connection for up to ``block``.

A cancellation redis-py swallows is raised again by ``translate_errors``, as for every store call,
so an archiver being stopped does stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, cast

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from actors.ports.archive import FeedEntry
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import ms

_events = msgspec.msgpack.Decoder(tuple[bytes, ...])


@translate_errors
class RedisArchiveFeed:
    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis = Redis.from_url(url, decode_responses=False)
        self._key = keys.archive_feed(prefix)
        self._reclaim_from = b"0-0"

    async def connect(self) -> None:
        """Create the consumer group (from the start of the stream) unless it exists; idempotent."""
        await self._ensure_group()

    async def read(self, consumer: str, count: int, block: float) -> list[FeedEntry]:
        try:
            reply = await self._redis.xreadgroup(
                keys.ARCHIVERS, consumer, {self._key: ">"}, count=count, block=ms(block)
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group()
            return []
        if not reply:
            return []
        return _entries(cast("Any", reply)[0][1])

    async def reclaim(self, consumer: str, idle: float, count: int) -> list[FeedEntry]:
        try:
            reply = await self._redis.xautoclaim(
                self._key, keys.ARCHIVERS, consumer, round(idle * 1000), start_id=self._reclaim_from, count=count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group()
            return []
        next_from, claimed = reply[0], reply[1]
        self._reclaim_from = next_from  # "0-0" once the whole pending list was scanned
        return _entries(claimed)

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._key, keys.ARCHIVERS, *ids)
            pipe.xdel(self._key, *ids)
            await pipe.execute()

    async def length(self) -> int:
        """How many entries the feed holds (archived ones are deleted): for tests and metrics."""
        return int(await self._redis.xlen(self._key))

    async def oldest_age(self) -> float | None:
        """From the first entry's id (``XADD *``: the server's milliseconds) and the server's
        ``TIME``, read together: one clock, one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.xrange(self._key, count=1)
            (seconds, micros), first = await pipe.execute()
        if not first:
            return None
        appended_ms = int(first[0][0].split(b"-")[0])
        now = int(seconds) + int(micros) / 1e6
        return max(0.0, now - appended_ms / 1000)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._key, keys.ARCHIVERS, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        await self._redis.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _entries(raw: list[Any]) -> list[FeedEntry]:
    """Stream entries as ``FeedEntry``s; a deleted entry still pending (``None`` fields) is skipped."""
    entries = []
    for entry_id, fields in raw:
        if not fields:
            continue
        fields = cast("dict[bytes, bytes]", fields)
        packed = fields.get(b"e")
        events = _events.decode(packed) if packed else ()
        entries.append(FeedEntry(id=entry_id.decode(), state=fields[b"s"], events=events))
    return entries
