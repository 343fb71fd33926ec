"""The archiver: copies the archive feed into the archive, batch by batch, and applies retention.

Every node runs one, as one consumer (``consumer``, unique per process) of the feed's group:

- a batch is what one ``read`` (or ``reclaim``) returns; it is written in one transaction and
  acknowledged only after that transaction committed. A crash in between leaves the batch
  pending; it is reclaimed (by any archiver) after ``reclaim_idle`` and written again, which the
  archive's idempotent upserts absorb. So no entry is lost and none is archived twice.
- While the archive is away (``Unavailable``), the same batch is retried with back-off (capped at
  ``max_backoff``) and nothing more is read: the feed keeps the rest.
- After a batch smaller than ``batch`` it waits ``linger`` seconds before reading again, so that
  under load the entries gather into fewer, larger transactions (each costs a BEGIN and a COMMIT
  round trip and their CPU); the archive lags the store by about that much more.
- About every ``retention_every`` seconds it deletes the jobs that ended more than ``retention``
  seconds ago (0: never). Several archivers doing it at once is harmless (idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from actors.ports.archive import ArchiveFeed, ArchiveWriter, FeedEntry
from engine import defaults
from engine.errors import Unavailable

log = logging.getLogger(__name__)


class Archiver:
    def __init__(
        self,
        feed: ArchiveFeed,
        archive: ArchiveWriter,
        clock: Callable[[], float],
        *,
        consumer: str,
        retention: float = defaults.HISTORY_RETENTION_DAYS * 86400.0,
        batch: int = defaults.ARCHIVE_BATCH,
        block: float = 1.0,
        reclaim_idle: float = defaults.ARCHIVE_RECLAIM_IDLE_SECONDS,
        retention_every: float = defaults.ARCHIVE_RETENTION_EVERY_SECONDS,
        max_backoff: float = 5.0,
        linger: float = defaults.ARCHIVE_LINGER_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._feed, self._archive, self._clock = feed, archive, clock
        self._consumer, self._batch, self._block = consumer, batch, block
        self._reclaim_idle, self._retention, self._retention_every = reclaim_idle, retention, retention_every
        self._max_backoff, self._linger, self._sleep = max_backoff, linger, sleep
        self._next_reclaim = 0.0
        self._next_retention = 0.0
        self.archived = 0  # feed entries written and acknowledged by this archiver

    async def run(self) -> None:
        """Archive until cancelled. Raises ``Unavailable`` when the feed is away (the node's
        supervisor restarts it); the archive being away is retried here."""
        while True:
            if await self.step() < self._batch:
                await self._sleep(self._linger)

    async def step(self) -> int:
        """One round: a batch reclaimed or read (waiting up to ``block`` for one), written and
        acknowledged; then retention if due. Returns how many entries were archived."""
        entries = await self._reclaim_due()
        if not entries:
            entries = await self._feed.read(self._consumer, self._batch, self._block)
        if entries:
            await self._write(entries)
            await self._feed.ack([entry.id for entry in entries])
            self.archived += len(entries)
        await self._retain()
        return len(entries)

    async def _reclaim_due(self) -> list[FeedEntry]:
        now = self._clock()
        if now < self._next_reclaim:
            return []
        entries = await self._feed.reclaim(self._consumer, self._reclaim_idle, self._batch)
        if len(entries) < self._batch:  # the pending list is drained: look again in a while
            self._next_reclaim = now + self._reclaim_idle / 2
        return entries

    async def _write(self, entries: list[FeedEntry]) -> None:
        delay = 0.1
        while True:
            try:
                await self._archive.write(entries)
                return
            except Unavailable as exc:
                log.warning("archive write of %d entries failed (%s); retrying in %.1f s", len(entries), exc, delay)
            await self._sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _retain(self) -> None:
        now = self._clock()
        if self._retention <= 0 or now < self._next_retention:
            return
        try:
            forgotten = await self._archive.forget_before(now - self._retention)
        except Unavailable as exc:
            log.warning("archive retention skipped (%s)", exc)
            return
        finally:
            self._next_retention = now + self._retention_every
        if forgotten:
            log.info("archive retention: %d jobs ended before the retention window were deleted", forgotten)
