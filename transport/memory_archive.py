"""``ArchiveFeed`` in memory: the embedded runtime's twin of ``transport.redis_store.archive_feed``.

Same semantics, in one process: ``append`` (called by ``MemoryStore`` inside its commit) adds an
entry; ``read`` hands new entries to one consumer, pending until ``ack`` drops them; ``reclaim``
moves entries pending for ``idle`` seconds to the caller. Beyond ``cap`` entries the oldest go,
as ``MAXLEN`` would. Lost with the process, as is everything else of the embedded runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from actors.ports.archive import FeedEntry
from engine import defaults


class MemoryArchiveFeed:
    def __init__(self, *, cap: int = defaults.ARCHIVE_FEED_CAP, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, FeedEntry] = {}  # insertion order is feed order
        self._appended_at: dict[str, float] = {}  # id -> when it was appended (on ``clock``)
        self._undelivered: list[str] = []
        self._pending: dict[str, tuple[str, float]] = {}  # id -> (consumer, delivered at)
        self._seq = 0
        self._cap, self._clock = cap, clock
        self._appended = asyncio.Event()

    def append(self, state: bytes, events: Sequence[bytes] = ()) -> None:
        """Add one entry at the end (synchronous: part of the caller's atomic step)."""
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self._entries[entry_id] = FeedEntry(id=entry_id, state=state, events=tuple(events))
        self._appended_at[entry_id] = self._clock()
        self._undelivered.append(entry_id)
        while len(self._entries) > self._cap:
            oldest = next(iter(self._entries))
            self._drop(oldest)
        self._appended.set()

    async def read(self, consumer: str, count: int, block: float) -> list[FeedEntry]:
        if not self._undelivered and block > 0:
            self._appended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._appended.wait(), block)
        taken, self._undelivered = self._undelivered[:count], self._undelivered[count:]
        now = self._clock()
        for entry_id in taken:
            self._pending[entry_id] = (consumer, now)
        return [self._entries[entry_id] for entry_id in taken]

    async def reclaim(self, consumer: str, idle: float, count: int) -> list[FeedEntry]:
        now = self._clock()
        stale = [i for i, (_, at) in self._pending.items() if now - at >= idle][:count]
        for entry_id in stale:
            self._pending[entry_id] = (consumer, now)
        return [self._entries[entry_id] for entry_id in stale]

    async def ack(self, ids: Sequence[str]) -> None:
        for entry_id in ids:
            if entry_id in self._pending:
                self._drop(entry_id)

    async def length(self) -> int:
        return len(self._entries)

    async def oldest_age(self) -> float | None:
        oldest = next(iter(self._entries), None)
        return None if oldest is None else self._clock() - self._appended_at[oldest]

    def _drop(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)
        self._appended_at.pop(entry_id, None)
        self._pending.pop(entry_id, None)
        with contextlib.suppress(ValueError):
            self._undelivered.remove(entry_id)
