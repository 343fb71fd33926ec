"""The parent tasks a holon runs (Pure Holon mode), on Redis: one hash, task id -> accepted_at.
A few entries at most (``PARENT_MAX_CONCURRENT_TASKS``), off the hot path: plain commands."""

from __future__ import annotations

from typing import cast

from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisHolonTasks(RedisPart):
    """``HolonTasks`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)

    async def add_holon_task(self, task_id: str, accepted_at: float) -> None:
        """HSETNX: a second add (a re-delivered task) keeps the first time."""
        await self._redis.hsetnx(keys.holon_tasks(self._prefix), task_id, repr(accepted_at))

    async def remove_holon_task(self, task_id: str) -> None:
        await self._redis.hdel(keys.holon_tasks(self._prefix), task_id)

    async def holon_tasks(self) -> dict[str, float]:
        raw = cast("dict[bytes, bytes]", await self._redis.hgetall(keys.holon_tasks(self._prefix)))
        return {task_id.decode(): float(at) for task_id, at in raw.items()}
