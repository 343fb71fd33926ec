"""The schedules' last fires (actors/ports/store/schedules.py), checked on every implementation
in ``STORES``."""

from __future__ import annotations

import asyncio

from actors.ports.store import Fire, Store


async def test_a_schedule_that_never_fired_has_no_last_fire(store: Store) -> None:
    assert await store.last_fires(["nightly"]) == {}
    assert await store.last_fires([]) == {}


async def test_the_last_fire_recorded_is_read_back_per_schedule(store: Store) -> None:
    assert await store.record_fire("nightly", Fire(1_800_000_000, "job-a"))
    assert await store.record_fire("hourly", Fire(1_800_003_600, "job-b"))

    fires = await store.last_fires(["nightly", "hourly", "weekly"])

    assert fires == {"nightly": Fire(1_800_000_000, "job-a"), "hourly": Fire(1_800_003_600, "job-b")}


async def test_a_later_fire_replaces_the_last_and_an_earlier_or_equal_one_does_not(store: Store) -> None:
    assert await store.record_fire("every", Fire(100, "job-100"))
    assert await store.record_fire("every", Fire(160, "job-160"))

    assert not await store.record_fire("every", Fire(130, "job-130"))  # a paused ex-leader waking up
    assert not await store.record_fire("every", Fire(160, "job-160-again"))

    assert await store.last_fires(["every"]) == {"every": Fire(160, "job-160")}


async def test_racing_records_keep_the_latest_fire(store: Store) -> None:
    fires = [Fire(at, f"job-{at}") for at in range(1000, 1020)]

    await asyncio.gather(*(store.record_fire("race", fire) for fire in reversed(fires)))

    assert await store.last_fires(["race"]) == {"race": fires[-1]}


async def test_names_with_separators_are_kept_apart(store: Store) -> None:
    assert await store.record_fire("a:b", Fire(1, "job-1"))
    assert await store.record_fire("a", Fire(2, "job:2"))

    assert await store.last_fires(["a:b", "a"]) == {"a:b": Fire(1, "job-1"), "a": Fire(2, "job:2")}
