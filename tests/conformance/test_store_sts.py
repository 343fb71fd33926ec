"""The STS grants (actors/ports/store/sts.py), checked on every implementation in ``STORES``, with
explicit times (no clock is read). Refresh-token expiry is the server's TTL on Redis and is not
checked here (the gateway's tests check it on both runtimes' stores)."""

from __future__ import annotations

from actors.ports.store import Issued, Store
from actors.ports.store.sts import ISSUED, OTHER_WORKER, STALE, UNKNOWN

NOW = 1_800_000_000.0
DAY = 86400.0


def issued(serial: str, at: float = NOW) -> Issued:
    return Issued(serial, at, at + 60.0)


async def test_issued_serials_are_listed_newest_first_and_trimmed(store: Store) -> None:
    assert await store.sts_issued("w1") == []
    for i in range(5):
        assert await store.sts_issue("w1", issued(f"s{i}", NOW + i), f"r{i}", DAY, keep=3) == ISSUED

    assert await store.sts_issued("w1") == [issued("s4", NOW + 4), issued("s3", NOW + 3), issued("s2", NOW + 2)]
    assert await store.sts_issued("w2") == []


async def test_serials_older_than_the_refresh_lifetime_are_dropped(store: Store) -> None:
    await store.sts_issue("w1", issued("old"), "r1", 100.0, keep=8)
    await store.sts_issue("w1", issued("new", NOW + 101), "r2", 100.0, keep=8)

    assert [i.serial for i in await store.sts_issued("w1")] == ["new"]


async def test_a_refresh_token_is_replaced_once_used_yet_works_within_the_grace(store: Store) -> None:
    await store.sts_issue("w1", issued("a1"), "r1", DAY, keep=8)

    assert await store.sts_issue("w1", issued("a2", NOW + 1), "r2", DAY, keep=8, replacing="r1", grace=5) == ISSUED
    assert await store.sts_issue("w1", issued("a3", NOW + 6), "r3", DAY, keep=8, replacing="r1", grace=5) == ISSUED
    assert await store.sts_issue("w1", issued("a4", NOW + 6.5), "r4", DAY, keep=8, replacing="r1", grace=5) == STALE
    # both successors work
    assert await store.sts_issue("w1", issued("a5", NOW + 7), "r5", DAY, keep=8, replacing="r2", grace=5) == ISSUED
    assert await store.sts_issue("w1", issued("a6", NOW + 7), "r6", DAY, keep=8, replacing="r3", grace=5) == ISSUED
    assert "a4" not in {i.serial for i in await store.sts_issued("w1")}


async def test_an_unknown_or_another_workers_refresh_token_records_nothing(store: Store) -> None:
    await store.sts_issue("w1", issued("a1"), "r1", DAY, keep=8)

    assert await store.sts_issue("w1", issued("x"), "r9", DAY, keep=8, replacing="nope") == UNKNOWN
    assert await store.sts_issue("w2", issued("y"), "r8", DAY, keep=8, replacing="r1") == OTHER_WORKER
    assert await store.sts_issue("w2", issued("z"), "r7", DAY, keep=8, replacing="r9") == UNKNOWN  # never recorded
    assert [i.serial for i in await store.sts_issued("w1")] == ["a1"]
    assert await store.sts_issued("w2") == []
    # r1 was not spent by w2's attempt
    assert await store.sts_issue("w1", issued("a2", NOW + 100), "r2", DAY, keep=8, replacing="r1") == ISSUED
