"""Leader locks on Redis: ``SET`` with a TTL and a compare-and-renew, plus an ``INCR`` fence;
and node membership: a sorted set of member -> expiry (epoch seconds).

The lock key holds ``"<token>:<holder>"``; the fence counter only grows, so every new holder's
token is larger than all earlier ones. Lock expiry runs on the Redis server's clock. Redis being
away raises ``StoreUnavailable`` (``transport.redis_errors``).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self, cast

from redis.asyncio import Redis

from engine import defaults
from transport import keys
from transport.redis_errors import translate_errors

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  if string.sub(current, sep + 1) ~= ARGV[1] then return false end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, 1, sep - 1))
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@translate_errors  # redis-py's "server away" errors leave every public method as StoreUnavailable
class RedisLocks:
    def __init__(self, url: str, *, prefix: str = defaults.NAMESPACE) -> None:
        self._prefix = prefix
        self._redis = Redis.from_url(url, decode_responses=False)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._redis.aclose()

    def _keys(self, name: str) -> list[str]:
        return [keys.lock(self._prefix, name), keys.lock_fence(self._prefix, name)]

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        token = await self._acquire(keys=self._keys(name), args=[holder, _ms(ttl)])
        return None if token is None else int(cast(int, token))

    async def renew(self, name: str, holder: str, token: int, ttl: float) -> bool:
        renewed = await self._renew(keys=self._keys(name)[:1], args=[f"{token}:{holder}", _ms(ttl)])
        return bool(renewed)

    async def release(self, name: str, holder: str, token: int) -> None:
        await self._release(keys=self._keys(name)[:1], args=[f"{token}:{holder}"])

    async def beat(self, member: str, ttl: float) -> list[str]:
        now = time.time()
        key = keys.members(self._prefix)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member: now + ttl})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrange(key, 0, -1)
            *_, members = await pipe.execute()
        return sorted(m.decode() for m in members)

    async def leave(self, member: str) -> None:
        await self._redis.zrem(keys.members(self._prefix), member)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
