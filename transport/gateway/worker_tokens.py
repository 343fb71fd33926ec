"""The worker token table as one gateway sees it (``workers.toml``, through the store).

- A gateway started with ``WORKERS_CONFIG_PATH`` publishes the file's table to the store
  (``publish``), and so does ``POST /api/v1/admin/reload-workers``: one document swapped whole,
  so every gateway reads the old table or the new one, never a mix.
- Each gateway reads it back at most once per ``WORKER_TOKENS_CACHE_SECONDS`` (2 s) of its
  clock, one concurrent read at a time: a reload takes effect everywhere within that, and
  costs the worker requests between two reads nothing. The gateway that published uses the new
  table at once.
- Without ``WORKERS_CONFIG_PATH`` the table is empty and never read: ``GLOBAL_WORKER_TOKEN`` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors.ports.store import WorkerTokens
from engine import defaults
from transport.app.workers import WorkerTable, decode_table, encode_table, load_workers


class WorkerDirectory:
    def __init__(
        self,
        store: WorkerTokens,
        path: str,
        clock: Callable[[], float],
        ttl: float = defaults.WORKER_TOKENS_CACHE_SECONDS,
    ) -> None:
        self._store, self.path, self._clock, self._ttl = store, path, clock, ttl
        self._table = WorkerTable()
        self._read_at: float | None = None
        self._reading = asyncio.Lock()  # one read at a time; those waiting use its result

    def _fresh(self) -> bool:
        now = self._clock()
        return self._read_at is not None and 0 <= now - self._read_at < self._ttl

    async def table(self) -> WorkerTable:
        """The table in force: the cached copy, or the store's once the copy is older than the TTL
        (or the clock went back). A store error reaches the caller (503) and the next call reads
        again; the copy in hand is not used past its TTL."""
        if not self.path or self._fresh():
            return self._table
        async with self._reading:
            if not self._fresh():  # nobody read it while this call waited
                now = self._clock()
                found = await self._store.worker_tokens()
                if found is not None:
                    self._table = decode_table(found[1])
                self._read_at = now
        return self._table

    async def reload(self) -> tuple[int, WorkerTable]:
        """Read the file again (``ConfigError`` if it is wrong: the table in force stays) and
        publish it; returns the new version and the table."""
        table = load_workers(self.path)
        return await self.publish(table), table

    async def publish(self, table: WorkerTable) -> int:
        version = await self._store.put_worker_tokens(encode_table(table))
        self._table, self._read_at = table, self._clock()
        return version
