"""The archive's PostgreSQL connection pool, its errors, and its schema migrations.

- ``HISTORY_DATABASE_URI`` is handed to asyncpg as is; query parameters other than asyncpg's
  own become server settings (``?search_path=archive`` puts the tables in schema ``archive``).
- Migrations are the files ``migrations/NNNN_name.sql``, applied in name order at start-up, each
  in the one transaction that records it in ``avtomat_migrations``. A transaction-scoped advisory
  lock (per schema) serializes nodes starting together: the second finds the work done.
- asyncpg's "server away" errors (and retryable transaction failures) leave as
  ``ArchiveUnavailable``; everything else (a bad query, bad credentials) goes through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from types import TracebackType
from typing import Any, Self

import asyncpg

from engine.errors import ArchiveUnavailable

_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", a pool closing under a call
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.TooManyConnectionsError,
)


@contextlib.contextmanager
def archive_errors() -> Iterator[None]:
    """Raise ``ArchiveUnavailable`` (from the original) for an error meaning "try again later"."""
    try:
        yield
    except _AWAY as exc:
        raise ArchiveUnavailable(f"the archive database is unavailable: {type(exc).__name__}: {exc}") from exc


def migrations() -> list[tuple[str, str]]:
    """``(name, sql)`` of every migration shipped, in the order they apply."""
    folder = resources.files("transport.archive").joinpath("migrations")
    files = sorted((f.name, f) for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), file.read_text(encoding="utf-8")) for name, file in files]


class Database:
    """``async with Database(uri) as db``: a pool, connected, the schema migrated; ``close`` idempotent."""

    def __init__(self, uri: str, *, command_timeout: float = 30.0, connect_timeout: float = 10.0) -> None:
        self._uri, self._command_timeout, self._connect_timeout = uri, command_timeout, connect_timeout
        self._pool: Any = None

    async def connect(self) -> None:
        """Open the pool and apply the migrations not applied yet; ``ArchiveUnavailable`` if away."""
        if self._pool is not None:
            return
        with archive_errors():
            self._pool = await asyncpg.create_pool(
                self._uri,
                min_size=1,
                max_size=4,
                command_timeout=self._command_timeout,
                timeout=self._connect_timeout,
            )
            await self.migrate()

    async def migrate(self) -> list[str]:
        """Apply the missing migrations; returns the names applied (none when up to date)."""
        applied: list[str] = []
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':avtomat-migrations'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS avtomat_migrations"
                " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row["name"] for row in await conn.fetch("SELECT name FROM avtomat_migrations")}
            for name, sql in migrations():
                if name not in done:
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO avtomat_migrations (name) VALUES ($1)", name)
                    applied.append(name)
        return applied

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A pooled connection inside one transaction (committed on a clean exit)."""
        if self._pool is None:
            raise RuntimeError("the archive database is not connected")
        with archive_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn

    async def fetch(self, query: str, *args: object) -> list[Any]:
        if self._pool is None:
            raise RuntimeError("the archive database is not connected")
        with archive_errors():
            return list(await self._pool.fetch(query, *args))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

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
