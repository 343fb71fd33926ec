"""The gateways' shared tenancy state on Redis: rate-limit buckets (one script per check),
job quotas (one script per admission) and the worker token table (one hash, swapped in a
MULTI/EXEC transaction). The rate check and the admission go through the batcher, so they share
a round trip with whatever else the gateway sends in the same loop turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from engine.limits import JOBS_PER_DAY, MONTHLY_ATTEMPTS, Quota, Rate, Window
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, ms

_WINDOW_MARGIN_SECONDS = 60.0  # a counter outlives its window a little: clocks of gateways differ


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisTenancy(RedisPart):
    """``RateLimits``, ``ClientQuotas`` and ``WorkerTokens`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._rate_hit = client.script("rate_hit")
        self._admit_job = client.script("admit_job")

    async def rate_hit(self, key: str, rate: Rate, now: float, *, peek: bool = False) -> float:
        """One script: GCRA on the bucket's stored time (``engine.limits.gcra``)."""
        args = [repr(now), repr(rate.interval), repr(rate.period), "1" if peek else "0"]
        reply = await self._batch.script(self._rate_hit, [keys.rate_bucket(self._prefix, key)], args)
        return float(reply)

    async def admit_job(self, client_id: str, job_id: str, quota: Quota, day: Window, month: Window) -> str | None:
        """One script: check every limited quota, then count the job against all of them."""
        p = self._prefix
        script_keys = [
            keys.quota_count(p, client_id, JOBS_PER_DAY, day.label),
            keys.quota_count(p, client_id, MONTHLY_ATTEMPTS, month.label),
            keys.running_jobs(p, client_id),
        ]
        limits = [quota.jobs_per_day, quota.monthly_attempts, quota.max_running_jobs]
        day_start = day.ends_at - 86400.0  # no later than now: the TTLs last at least to the window's end
        ttls = [ms(w.ends_at - day_start + _WINDOW_MARGIN_SECONDS) for w in (day, month)]
        args: list[str | int] = [job_id, *(-1 if limit is None else limit for limit in limits), *ttls]
        reply = await self._batch.script(self._admit_job, script_keys, args)
        spent = reply.decode() if isinstance(reply, bytes) else str(reply)
        return spent or None

    async def running_jobs(self, client_id: str) -> list[str]:
        members = cast("set[bytes]", await self._redis.smembers(keys.running_jobs(self._prefix, client_id)))
        return sorted(member.decode() for member in members)

    async def forget_running(self, client_id: str, job_ids: Sequence[str]) -> None:
        if job_ids:
            await self._redis.srem(keys.running_jobs(self._prefix, client_id), *job_ids)

    async def put_worker_tokens(self, document: bytes) -> int:
        """MULTI/EXEC: the version moves and the document changes together."""
        key = keys.worker_tokens(self._prefix)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "v", 1)
            pipe.hset(key, "doc", document)
            version, _ = await pipe.execute()
        return int(version)

    async def worker_tokens(self) -> tuple[int, bytes] | None:
        raw = await self._batch.execute("HMGET", keys.worker_tokens(self._prefix), "v", "doc")
        version, document = cast("list[bytes | None]", raw)
        if version is None or document is None:
            return None
        return int(version), document
