"""The real servers the tests use, and what a test does when one is missing (STYLE.md, rule 3)."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def server_unavailable(reason: str) -> NoReturn:
    """Skip when a real server (or tool) is missing locally; fail when ``CI`` is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


async def need_redis(client: Redis, url: str = REDIS_URL) -> None:
    """Ping ``client``; when Redis does not answer, close it and call ``server_unavailable``."""
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        await client.aclose()
        server_unavailable(f"Redis is not reachable at {url}: {exc!r}")


def need_executable(name: str, hint: str) -> None:
    """``server_unavailable`` unless ``name`` is on the PATH; ``hint`` says how to install it."""
    if shutil.which(name) is None:
        server_unavailable(f"{name!r} is not installed ({hint})")


POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def need_postgres(url: str = POSTGRES_URL) -> None:
    """Connect to PostgreSQL once; when it does not answer, call ``server_unavailable``."""
    try:
        connection = await asyncpg.connect(url, timeout=5.0)
    except (OSError, asyncpg.PostgresError) as exc:
        server_unavailable(f"PostgreSQL is not reachable at {url}: {exc!r}")
    await connection.close()
