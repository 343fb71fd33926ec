"""The archive a configuration asks for: ``HISTORY_DATABASE_URI`` reached and migrated at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from engine.errors import ConfigError
from transport.app.settings import Settings

if TYPE_CHECKING:
    from transport.archive import PostgresArchive


@asynccontextmanager
async def open_archive(settings: Settings) -> AsyncIterator[PostgresArchive | None]:
    """The archive (None without ``HISTORY_DATABASE_URI``), its schema up to date; closed on exit.

    A database that cannot be reached or migrated at start-up is a ``ConfigError`` naming the
    variable: the process stops instead of running without the archive it was told to keep."""
    if not settings.history_database_uri:
        yield None
        return
    from transport.archive import Database, PostgresArchive  # noqa: PLC0415 (asyncpg, 14 MiB: only when set)

    db = Database(settings.history_database_uri)
    try:
        await db.connect()
    except Exception as exc:  # any failure here (refused, bad password, no such database) stops the start
        await db.close()
        raise ConfigError("HISTORY_DATABASE_URI", f"the archive database cannot be used: {exc}") from exc
    try:
        yield PostgresArchive(db)
    finally:
        await db.close()
