"""What every part of the Redis store shares: one client (one connection pool), the batcher that
pipelines the hot path's commands, the key prefix, and the Lua scripts.

All of the store's Redis I/O goes through ``RedisClient.redis`` (directly, through ``batch`` or
through a script registered on it), so one place decides how the store talks to the server.
"""

from __future__ import annotations

from importlib import resources
from typing import cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript

from transport.redis_batch import Batcher

encoder = msgspec.msgpack.Encoder()


def ms(seconds: float) -> int:
    """Seconds as the whole milliseconds Redis takes (at least 1: 0 would mean no expiry)."""
    return max(1, round(seconds * 1000))


def lua(name: str) -> str:
    """The text of the script ``lua/<name>.lua`` (package data, so an installed wheel has it)."""
    return resources.files("transport.redis_store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class RedisClient:
    """The connection of one store; no I/O until the first command.

    A command whose connection broke is re-sent, up to 3 times (``transport.redis_store`` says
    what that means for each call)."""

    def __init__(self, url: str, prefix: str) -> None:
        retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=3)
        self.redis = Redis.from_url(url, decode_responses=False, retry=retry)
        self.batch = Batcher(self.redis)  # the hot path's commands, pipelined per loop turn
        self.prefix = prefix
        self.closed = False
        self._scripts: dict[str, AsyncScript] = {}

    def script(self, name: str) -> AsyncScript:
        """The script ``name``, registered once: hashed here, loaded on the server on first use."""
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(lua(name))
        return self._scripts[name]


class RedisPart:
    """One concern of the Redis store (jobs, groups, ...) on the store's shared ``RedisClient``.

    The parts are mixed into ``RedisStore``, which calls each part's ``__init__`` with one client;
    a part on its own implements its protocol too."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._redis, self._batch, self._prefix = client.redis, client.batch, client.prefix

    async def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._batch.execute("GET", key))
