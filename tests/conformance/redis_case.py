"""The Redis store as a conformance case: a store on its own key prefix, wiped at teardown.

``REDIS_URL`` picks the server (default: the local one). No server: ``server_unavailable``, so
the suite skips locally and fails in CI.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from engine.errors import StoreUnavailable
from tests.support.servers import REDIS_URL, server_unavailable
from transport.redis_store import RedisStore


def unique_prefix() -> str:
    return f"avtomat-test-{uuid.uuid4().hex[:8]}"


async def delete_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (SCAN, so other users of the server are not blocked)."""
    client = Redis.from_url(REDIS_URL)
    try:
        doomed = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def redis_store(prefix: str | None = None, url: str = REDIS_URL, **options: Any) -> AsyncIterator[RedisStore]:
    """A connected ``RedisStore`` on a fresh prefix (or ``prefix``); its keys are deleted afterwards.

    ``url`` may point at a proxy in front of the server; the clean-up goes to the server itself."""
    prefix = prefix or unique_prefix()
    try:
        store = await RedisStore.open(url, prefix=prefix, **options)
    except (StoreUnavailable, RedisConnectionError, OSError) as exc:
        server_unavailable(f"Redis is not reachable at {url}: {exc}")
    try:
        yield store
    finally:
        await store.close()
        await delete_prefix(prefix)
