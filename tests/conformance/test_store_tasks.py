"""The task queue: order, waiting takers, reservations.

The store contract (actors/ports/store/tasks.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

import asyncio

from actors.ports.store import RESERVATION_SCAN_LIMIT, Contender, Lease, Store, WorkerRecord
from engine import defaults
from tests.conformance.store_samples import LEASE, job, offer


async def test_tasks_are_taken_by_priority_then_fifo(store: Store) -> None:
    for task_id, priority in [("low-1", 0.0), ("high-1", 5.0), ("low-2", 0.0), ("high-2", 5.0), ("mid", 1.0)]:
        await store.push_task(offer(task_id, priority=priority))

    taken = [await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE) for _ in range(5)]

    assert [t.task_id if t else None for t in taken] == ["high-1", "high-2", "mid", "low-1", "low-2"]


# The stores in STORES use the default aging; T0 is a realistic epoch time, so the scores are large.
AGING = defaults.TASK_PRIORITY_AGING_SECONDS


T0 = 1_700_000_000.0


async def test_tasks_queued_seconds_apart_are_still_taken_by_priority_then_fifo(store: Store) -> None:
    pushes = [("low-1", 0.0), ("high-1", 5.0), ("low-2", 0.0), ("high-2", 5.0), ("mid", 1.0)]
    for second, (task_id, priority) in enumerate(pushes):
        await store.push_task(offer(task_id, priority=priority), now=T0 + second)

    taken = [await store.take_task("w1", ["echo"], 1.0, now=T0 + 10, lease_seconds=LEASE) for _ in range(5)]

    assert [t.task_id if t else None for t in taken] == ["high-1", "high-2", "mid", "low-1", "low-2"]


async def test_a_task_waiting_longer_than_its_aging_window_goes_before_fresher_higher_priorities(store: Store) -> None:
    """Two units of priority are worth ``2 * AGING`` seconds: a priority-2 task queued just inside
    that window after the priority-0 one still goes first, one queued just outside it does not."""
    await store.push_task(offer("old-low", priority=0.0), now=T0)
    await store.push_task(offer("fresh-high", priority=2.0), now=T0 + 2 * AGING + 1)
    await store.push_task(offer("early-high", priority=2.0), now=T0 + 2 * AGING - 1)

    now = T0 + 2 * AGING + 2
    taken = [await store.take_task("w1", ["echo"], 1.0, now=now, lease_seconds=LEASE) for _ in range(3)]

    assert [t.task_id if t else None for t in taken] == ["early-high", "old-low", "fresh-high"]


async def test_aging_applies_across_the_skills_a_worker_takes(store: Store) -> None:
    await store.push_task(offer("a-old-low", type="a", priority=0.0), now=T0)
    await store.push_task(offer("b-fresh-high", type="b", priority=1.0), now=T0 + AGING + 1)

    first = await store.take_task("w1", ["a", "b"], 1.0, now=T0 + AGING + 2, lease_seconds=LEASE)

    assert first is not None
    assert first.task_id == "a-old-low"


async def test_take_task_picks_the_best_head_across_skills(store: Store) -> None:
    await store.push_task(offer("a-low", type="a", priority=0.0))
    await store.push_task(offer("b-high", type="b", priority=3.0))
    await store.push_task(offer("c-top", type="c", priority=9.0))

    first = await store.take_task("w1", ["a", "b"], 1.0, now=0.0, lease_seconds=LEASE)
    second = await store.take_task("w1", ["a", "b"], 1.0, now=0.0, lease_seconds=LEASE)

    assert first is not None
    assert second is not None
    assert (first.task_id, second.task_id) == ("b-high", "a-low")  # c is not one of the skills


async def test_take_task_with_a_short_timeout_returns_none_quickly(store: Store) -> None:
    await store.push_task(offer("other", type="other-skill"))
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await store.take_task("w1", ["echo"], 0.05, now=0.0, lease_seconds=LEASE) is None

    assert 0.04 <= loop.time() - started < 2.0


async def test_take_task_with_zero_timeout_returns_a_queued_task(store: Store) -> None:
    """``?timeout=0`` on the worker poll route means "don't wait"; a queued task must still come."""
    await store.push_task(offer("t1"))

    taken = await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)

    assert taken is not None
    assert taken.task_id == "t1"


async def test_take_task_wakes_when_a_task_is_pushed(store: Store) -> None:
    waiting = asyncio.ensure_future(store.take_task("w1", ["echo"], 30.0, now=7.0, lease_seconds=LEASE))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()

    await store.push_task(offer("t1"))
    taken = await asyncio.wait_for(waiting, 5.0)

    assert taken is not None
    assert taken.task_id == "t1"


async def test_pushing_the_same_task_id_twice_queues_it_once(store: Store) -> None:
    await store.push_task(offer("t1"))
    await store.push_task(offer("t1"))

    assert await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE) is not None
    assert await store.take_task("w1", ["echo"], 0.01, now=0.0, lease_seconds=LEASE) is None


async def test_pushing_a_task_already_taken_does_not_queue_it_again(store: Store) -> None:
    await store.push_task(offer("t1"))
    await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE)

    await store.push_task(offer("t1"))

    assert await store.take_task("w2", ["echo"], 0.01, now=0.0, lease_seconds=LEASE) is None


async def test_take_task_records_the_lease(store: Store) -> None:
    await store.push_task(offer("t1", job_id="job-9"))
    assert await store.get_lease("t1") is None

    await store.take_task("w1", ["echo"], 1.0, now=42.0, lease_seconds=LEASE)

    assert await store.get_lease("t1") == Lease("t1", "job-9", "w1", taken_at=42.0, expires_at=42.0 + LEASE)


async def test_taken_offer_round_trips(store: Store) -> None:
    pushed = offer("t1", priority=2.5)
    await store.push_task(pushed)

    assert await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE) == pushed


async def take_now(store: Store, worker_id: str, now: float, skills: tuple[str, ...] = ("echo",)) -> str | None:
    """The id of the task ``worker_id`` takes at ``now`` without waiting, or None."""
    taken = await store.take_task(worker_id, list(skills), 0, now=now, lease_seconds=LEASE)
    return None if taken is None else taken.task_id


async def test_a_reserved_task_is_skipped_by_other_workers_until_its_reservation_lapses(store: Store) -> None:
    await store.push_task(offer("t1"), reserved_for="w1", reserved_until=10.0)

    assert await take_now(store, "w2", now=5.0) is None
    assert await take_now(store, "w2", now=9.999) is None
    assert await take_now(store, "w2", now=10.0) == "t1"  # lapsed: anyone capable may take it
    assert (lease := await store.get_lease("t1")) is not None and lease.worker_id == "w2"


async def test_the_reserved_worker_takes_its_task_first(store: Store) -> None:
    await store.push_task(offer("t1"), reserved_for="w1", reserved_until=10.0)

    assert await take_now(store, "w2", now=5.0) is None
    assert await take_now(store, "w1", now=5.0) == "t1"
    assert await take_now(store, "w2", now=20.0) is None  # taken: the reservation went with it


async def test_a_task_reserved_for_another_does_not_hold_up_the_tasks_behind_it(store: Store) -> None:
    await store.push_task(offer("t1"), reserved_for="w1", reserved_until=10.0)
    await store.push_task(offer("t2"))

    assert await take_now(store, "w2", now=5.0) == "t2"
    assert await take_now(store, "w1", now=5.0) == "t1"


async def test_ordering_is_unchanged_among_the_tasks_a_worker_may_take(store: Store) -> None:
    await store.push_task(offer("low-mine", priority=0), reserved_for="w1", reserved_until=10.0)
    await store.push_task(offer("high-theirs", priority=5), reserved_for="w2", reserved_until=10.0)
    await store.push_task(offer("mid-free", priority=1))
    await store.push_task(offer("other-skill", type="b", priority=3), reserved_for="w1", reserved_until=10.0)

    taken = [await take_now(store, "w1", now=5.0, skills=("echo", "b")) for _ in range(4)]

    assert taken == ["other-skill", "mid-free", "low-mine", None]
    assert await take_now(store, "w1", now=10.0, skills=("echo", "b")) == "high-theirs"


async def test_a_waiting_taker_gets_a_reserved_task_once_the_reservation_lapses(store: Store) -> None:
    await store.push_task(offer("t1"), reserved_for="w1", reserved_until=100.2)

    taken = await store.take_task("w2", ["echo"], 10.0, now=100.0, lease_seconds=LEASE)

    assert taken is not None and taken.task_id == "t1"


async def test_a_taker_looks_at_a_bounded_number_of_head_tasks_per_skill(store: Store) -> None:
    for i in range(RESERVATION_SCAN_LIMIT):
        await store.push_task(offer(f"r{i:02d}"), reserved_for="w1", reserved_until=10.0)
    await store.push_task(offer("free"))

    assert await take_now(store, "w2", now=5.0) is None  # past the bound, until the reservations lapse
    assert await take_now(store, "w2", now=10.0) == "r00"


async def test_reservations_count_since_the_last_heartbeat(store: Store) -> None:
    worker = WorkerRecord(worker_id="a", skills=["echo"], last_seen=10.0, expires_at=100.0)
    other = WorkerRecord(worker_id="b", skills=["echo"], last_seen=10.0, expires_at=100.0)
    assert await store.reservations([worker, other]) == {"a": 0, "b": 0}

    await store.push_task(offer("t1"), reserved_for="a", reserved_until=20.0, counted_since=10.0)
    await store.push_task(offer("t2"), reserved_for="a", reserved_until=20.0, counted_since=10.0)
    await store.push_task(offer("t2"), reserved_for="a", reserved_until=20.0, counted_since=10.0)  # a redelivery
    await store.push_task(offer("t3"), reserved_for="b", reserved_until=20.0)  # not counted
    assert await store.reservations([worker, other]) == {"a": 2, "b": 0}

    beaten = WorkerRecord(worker_id="a", skills=["echo"], last_seen=12.5, expires_at=100.0)
    assert await store.reservations([beaten]) == {"a": 0}  # a new heartbeat: its tasks are counted there
    await store.push_task(offer("t4"), reserved_for="a", reserved_until=20.0, counted_since=12.5)
    assert await store.reservations([beaten]) == {"a": 1}


async def test_take_task_with_job_reads_the_job_in_the_same_step(store: Store) -> None:
    assert await store.create_job(job("job-1"))
    await store.push_task(offer("t1", job_id="job-1"))
    await store.push_task(offer("t2", job_id="gone"))

    first = await store.take_task_with_job("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE)
    second = await store.take_task_with_job("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE)

    assert first is not None and second is not None
    assert first[0].task_id == "t1"
    assert first[1] == await store.load_job("job-1")
    assert first[1] is not None and first[1].version == 1
    assert (second[0].task_id, second[1]) == ("t2", None)
    assert [(await store.get_lease(t)) is not None for t in ("t1", "t2")] == [True, True]
    assert await store.take_task_with_job("w1", ["echo"], 0.0, now=0.0, lease_seconds=LEASE) is None


async def test_push_task_reserved_chooses_by_tier_then_counted_load_then_order(store: Store) -> None:
    a, b = Contender("a", last_seen=10.0, base_load=1), Contender("b", last_seen=10.0, base_load=2)

    # a: 1 + 0 reserved < b: 2; then a: 1 + 1 = 2 ties with b: a comes first; then b: 2 < a: 3
    chosen = [await store.push_task_reserved(offer(f"t{i}"), [a, b], reserved_until=20.0) for i in range(3)]
    assert chosen == ["a", "a", "b"]
    workers = [WorkerRecord(worker_id=w, skills=["echo"], last_seen=10.0, expires_at=100.0) for w in ("a", "b")]
    assert await store.reservations(workers) == {"a": 2, "b": 1}

    hot_but_busy = Contender("c", last_seen=10.0, base_load=9, tier=0)
    idle = Contender("d", last_seen=10.0, base_load=0, tier=1)
    assert await store.push_task_reserved(offer("t3"), [hot_but_busy, idle], reserved_until=20.0) == "c"
    assert await take_now(store, "d", now=19.0) is None  # reserved for c until 20
    assert await take_now(store, "d", now=20.0) == "t0"  # a's reservation lapsed: the oldest goes


async def test_push_task_reserved_of_a_queued_task_changes_nothing(store: Store) -> None:
    a = Contender("a", last_seen=10.0, base_load=0)
    assert await store.push_task_reserved(offer("t1"), [a], reserved_until=20.0) == "a"
    assert await store.push_task_reserved(offer("t1"), [a], reserved_until=20.0) is None  # a redelivery
    assert await store.push_task_reserved(offer("t2"), [], reserved_until=20.0) is None  # queued unreserved
    record = WorkerRecord(worker_id="a", skills=["echo"], last_seen=10.0, expires_at=100.0)
    assert await store.reservations([record]) == {"a": 1}
    assert await take_now(store, "z", now=0.0) == "t2"
    assert await take_now(store, "a", now=0.0) == "t1"


async def test_push_task_reserved_counts_only_since_the_contender_s_heartbeat(store: Store) -> None:
    await store.push_task(offer("old"), reserved_for="a", reserved_until=20.0, counted_since=5.0)
    beaten, b = Contender("a", last_seen=10.0, base_load=0), Contender("b", last_seen=10.0, base_load=0)
    assert await store.push_task_reserved(offer("t1"), [beaten, b], reserved_until=20.0) == "a"  # 0 since 10


async def test_queue_depths_count_the_waiting_tasks_of_each_skill(store: Store) -> None:
    for task_id in ("a", "b", "c"):
        await store.push_task(offer(task_id))
    await store.push_task(offer("d", type="resize"))
    await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE)

    assert await store.queue_depths(["echo", "resize", "unknown"]) == {"echo": 2, "resize": 1, "unknown": 0}


async def test_queue_depths_count_the_tasks_waiting_per_skill_until_taken(store: Store) -> None:
    for task_id in ["a", "b", "c"]:
        await store.push_task(offer(task_id))
    await store.push_task(offer("a"))  # a re-push of a queued task is not queued twice
    await store.push_task(offer("x", type="resize"))

    assert await store.queue_depths(["echo", "resize", "never-seen"]) == {"echo": 3, "resize": 1, "never-seen": 0}
    await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE)
    assert await store.queue_depths(["echo"]) == {"echo": 2}
    assert await store.queue_depths([]) == {}
