"""Leader locks, in memory (fake clock) and on Redis (real TTLs): one holder at a time,
growing fencing tokens, renewal, takeover after the holder stops renewing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from actors.ports.locks import Locks
from tests.conformance.redis_case import delete_prefix, unique_prefix
from tests.support.clock import FakeClock
from tests.support.servers import REDIS_URL, need_redis
from transport.memory_locks import MemoryLocks
from transport.redis_locks import RedisLocks

TTL = 0.3


class Case:
    """A lock implementation and a way to let ``seconds`` pass for it."""

    def __init__(self, locks: Locks, let_pass: Callable[[float], Awaitable[None]]) -> None:
        self.locks, self.let_pass = locks, let_pass


@contextlib.asynccontextmanager
async def memory_case() -> AsyncIterator[Case]:
    clock = FakeClock(1000.0)
    yield Case(MemoryLocks(clock), clock.sleep)


@contextlib.asynccontextmanager
async def redis_case() -> AsyncIterator[Case]:
    probe = Redis.from_url(REDIS_URL)
    await need_redis(probe)
    await probe.aclose()
    prefix = unique_prefix()

    async def let_pass(seconds: float) -> None:
        # Redis expires keys on its own clock: letting a TTL lapse takes real time.
        await asyncio.sleep(seconds)

    try:
        async with RedisLocks(REDIS_URL, prefix=prefix) as locks:
            yield Case(locks, let_pass)
    finally:
        await delete_prefix(prefix)


@pytest.fixture(params=["memory", "redis"])
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    async with memory_case() if request.param == "memory" else redis_case() as implementation:
        yield implementation


async def test_one_holder_at_a_time(case: Case) -> None:
    token = await case.locks.acquire("timeouts", "a", TTL)
    assert token is not None
    assert await case.locks.acquire("timeouts", "b", TTL) is None
    assert await case.locks.acquire("other", "b", TTL) is not None


async def test_the_holder_reacquires_with_its_own_token(case: Case) -> None:
    token = await case.locks.acquire("timeouts", "a", TTL)
    assert await case.locks.acquire("timeouts", "a", TTL) == token


async def test_a_holder_that_stops_renewing_is_replaced_with_a_larger_token(case: Case) -> None:
    first = await case.locks.acquire("timeouts", "a", TTL)
    await case.let_pass(TTL * 1.5)
    second = await case.locks.acquire("timeouts", "b", TTL)
    assert first is not None and second is not None
    assert second > first
    assert not await case.locks.renew("timeouts", "a", first, TTL)  # the ex-leader learns it lost


async def test_renewal_keeps_the_lock(case: Case) -> None:
    token = await case.locks.acquire("timeouts", "a", TTL)
    assert token is not None
    for _ in range(3):
        await case.let_pass(TTL / 2)
        assert await case.locks.renew("timeouts", "a", token, TTL)
    assert await case.locks.acquire("timeouts", "b", TTL) is None


async def test_release_frees_the_lock_only_for_its_token(case: Case) -> None:
    token = await case.locks.acquire("timeouts", "a", TTL)
    assert token is not None
    await case.locks.release("timeouts", "a", token + 1)
    assert await case.locks.acquire("timeouts", "b", TTL) is None
    await case.locks.release("timeouts", "a", token)
    assert await case.locks.acquire("timeouts", "b", TTL) is not None
