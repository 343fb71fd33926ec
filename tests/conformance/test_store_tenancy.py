"""Rate-limit buckets, job quotas and the worker token table (actors/ports/store/tenancy.py),
checked on every implementation in ``STORES``, with explicit times (no clock is read)."""

from __future__ import annotations

import asyncio

import pytest

from actors.ports.store import Store
from engine.limits import Quota, Rate, quota_windows

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
RATE = Rate(limit=3, period=6.0)  # 3 at once, then one every 2 s


async def test_a_bucket_passes_its_limit_at_once_then_one_call_per_interval(store: Store) -> None:
    passed = [await store.rate_hit("api:c1", RATE, NOW) for _ in range(3)]
    assert passed == [0.0, 0.0, 0.0]

    assert await store.rate_hit("api:c1", RATE, NOW) == pytest.approx(2.0)
    assert await store.rate_hit("api:c1", RATE, NOW + 1.5) == pytest.approx(0.5)
    assert await store.rate_hit("api:c1", RATE, NOW + 2.0) == 0.0
    assert await store.rate_hit("api:c1", RATE, NOW + 2.0) == pytest.approx(2.0)


async def test_a_refusal_counts_nothing_and_a_full_period_refills_the_bucket(store: Store) -> None:
    for _ in range(3):
        await store.rate_hit("poll:w1", RATE, NOW)
    for _ in range(10):  # hammering while refused does not push the time further
        assert await store.rate_hit("poll:w1", RATE, NOW + 1.0) == pytest.approx(1.0)

    assert [await store.rate_hit("poll:w1", RATE, NOW + 6.0) for _ in range(3)] == [0.0, 0.0, 0.0]


async def test_buckets_are_kept_apart_by_key(store: Store) -> None:
    for _ in range(3):
        await store.rate_hit("api:c1", RATE, NOW)

    assert await store.rate_hit("api:c2", RATE, NOW) == 0.0
    assert await store.rate_hit("heartbeat:c1", RATE, NOW) == 0.0
    assert await store.rate_hit("api:c1", RATE, NOW) > 0


async def test_a_peek_says_whether_a_call_would_pass_without_counting_it(store: Store) -> None:
    for _ in range(5):
        assert await store.rate_hit("poll:w2", RATE, NOW, peek=True) == 0.0
    for _ in range(3):
        assert await store.rate_hit("poll:w2", RATE, NOW) == 0.0

    assert await store.rate_hit("poll:w2", RATE, NOW, peek=True) == pytest.approx(2.0)


async def test_racing_calls_never_overdraw_a_bucket(store: Store) -> None:
    waits = await asyncio.gather(*(store.rate_hit("api:race", Rate(10, 60.0), NOW) for _ in range(25)))

    assert sum(1 for wait in waits if wait == 0.0) == 10


async def test_jobs_are_admitted_up_to_the_daily_quota_and_again_the_next_day(store: Store) -> None:
    quota = Quota(jobs_per_day=2)
    day, month = quota_windows(NOW)

    assert await store.admit_job("c1", "j1", quota, day, month) is None
    assert await store.admit_job("c1", "j2", quota, day, month) is None
    assert await store.admit_job("c1", "j3", quota, day, month) == "jobs_per_day"
    assert await store.admit_job("c2", "j4", quota, day, month) is None  # another client's own count

    tomorrow, same_month = quota_windows(day.ends_at)
    assert same_month == month
    assert await store.admit_job("c1", "j5", quota, tomorrow, same_month) is None


async def test_a_refused_job_counts_against_no_quota(store: Store) -> None:
    quota = Quota(jobs_per_day=5, monthly_attempts=1)
    day, month = quota_windows(NOW)

    assert await store.admit_job("c1", "j1", quota, day, month) is None
    assert await store.admit_job("c1", "j2", quota, day, month) == "monthly_attempts"
    assert await store.admit_job("c1", "j3", Quota(jobs_per_day=2), day, month) is None  # j2 was not counted
    assert await store.admit_job("c1", "j4", Quota(jobs_per_day=2), day, month) == "jobs_per_day"


async def test_running_jobs_are_counted_until_forgotten(store: Store) -> None:
    quota = Quota(max_running_jobs=2)
    day, month = quota_windows(NOW)
    assert await store.admit_job("c1", "j1", quota, day, month) is None
    assert await store.admit_job("c1", "j2", quota, day, month) is None
    assert await store.admit_job("c1", "j3", quota, day, month) == "max_running_jobs"
    assert await store.running_jobs("c1") == ["j1", "j2"]

    await store.forget_running("c1", ["j1", "unknown"])

    assert await store.admit_job("c1", "j3", quota, day, month) is None
    assert await store.running_jobs("c1") == ["j2", "j3"]
    assert await store.running_jobs("c2") == []


async def test_the_worker_token_table_is_swapped_whole_with_a_growing_version(store: Store) -> None:
    assert await store.worker_tokens() is None

    first = await store.put_worker_tokens(b"table-1")
    second = await store.put_worker_tokens(b"table-2")

    assert second > first
    assert await store.worker_tokens() == (second, b"table-2")
