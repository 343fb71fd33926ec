"""A PostgreSQL schema of a test's own, so archive tests never see each other's rows."""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import asyncpg

from tests.support.servers import POSTGRES_URL, need_postgres


def with_schema(url: str, schema: str) -> str:
    """``url`` with its tables in ``schema`` (asyncpg passes ``search_path`` to the server)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode({**dict(urllib.parse.parse_qsl(parts.query)), "search_path": schema})
    return urllib.parse.urlunsplit(parts._replace(query=query))


@contextlib.asynccontextmanager
async def fresh_schema(url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A new, empty schema on ``url``; yields the URL that uses it. Dropped (with its tables) on exit."""
    await need_postgres(url)
    schema = f"archive_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield with_schema(url, schema)
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()
