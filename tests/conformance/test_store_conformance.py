"""The store contract (actors/ports/store.py), checked on every implementation in ``STORES``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.ports.notices import Subscription
from actors.ports.store import RESERVATION_SCAN_LIMIT, Lease, Scheduled, Store, WorkerRecord
from engine.errors import VersionConflict
from engine.group import DONE, BranchState, GroupState
from engine.job import WAITING_FOR_WORKER, GroupRef, JobState, Outgoing, TaskState
from engine.messages import AggregateDone, CancelNotice, Start, TaskOffer, Timeout, envelope
from transport.app.settings import DEFAULT_TASK_PRIORITY_AGING_SECONDS

LEASE = 60.0


def job(job_id: str = "job-1", **fields: Any) -> JobState:
    fields.setdefault("initial_data", {"x": 1})
    return JobState(
        id=job_id, blueprint="bp", client_id="c", current_state="start", created_at=1.0, updated_at=1.0, **fields
    )


def offer(task_id: str, type: str = "echo", priority: float = 0.0, job_id: str = "job-1") -> TaskOffer:
    return TaskOffer(job_id=job_id, task_id=task_id, type=type, params={"n": task_id}, priority=priority)


def deadline(envelope_id: str, at: float) -> Scheduled:
    return Scheduled("jobs", envelope("job-1", Timeout("dispatch", "t"), 0.0, id=envelope_id), at)


# -- jobs ---------------------------------------------------------------------------------------


async def test_create_job_stores_version_one(store: Store) -> None:
    assert await store.create_job(job()) is True

    loaded = await store.load_job("job-1")

    assert loaded is not None
    assert loaded.version == 1
    assert loaded.initial_data == {"x": 1}


async def test_create_job_with_an_existing_id_returns_false_and_keeps_the_first(store: Store) -> None:
    await store.create_job(job())

    assert await store.create_job(job(initial_data={"x": 2})) is False
    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert loaded.initial_data == {"x": 1}


async def test_load_of_an_unknown_job_is_none(store: Store) -> None:
    assert await store.load_job("nope") is None


async def test_commit_writes_the_next_version(store: Store) -> None:
    await store.create_job(job())
    state = await store.load_job("job-1")
    assert state is not None
    state.current_state = "work"

    await store.commit_job(state, expected_version=1)

    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert loaded.version == 2
    assert loaded.current_state == "work"


async def test_commit_with_a_stale_version_raises_and_leaves_the_state_untouched(store: Store) -> None:
    await store.create_job(job())
    winner = await store.load_job("job-1")
    loser = await store.load_job("job-1")
    assert winner is not None
    assert loser is not None
    winner.current_state = "winner"
    loser.current_state = "loser"

    await store.commit_job(winner, expected_version=1)
    with pytest.raises(VersionConflict):
        await store.commit_job(loser, expected_version=1)

    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert loaded.version == 2
    assert loaded.current_state == "winner"


async def test_commit_of_an_unknown_job_raises_version_conflict(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.commit_job(job("ghost"), expected_version=1)
    assert await store.load_job("ghost") is None


async def test_loaded_state_is_a_copy(store: Store) -> None:
    await store.create_job(job())
    loaded = await store.load_job("job-1")
    assert loaded is not None

    loaded.initial_data["x"] = 99
    loaded.state_history["leak"] = True

    again = await store.load_job("job-1")
    assert again is not None
    assert again.initial_data == {"x": 1}
    assert again.state_history == {}


async def test_committed_state_is_a_copy(store: Store) -> None:
    await store.create_job(job())
    state = await store.load_job("job-1")
    assert state is not None
    await store.commit_job(state, expected_version=1)

    state.state_history["after_commit"] = True

    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert loaded.state_history == {}


async def test_state_round_trips_task_and_outbox(store: Store) -> None:
    effect = Outgoing("router", envelope("echo", offer("t1"), 5.0, id="e1"), at=9.0)
    task = TaskState(id="t1", type="echo", params={"a": [1]}, transitions={"success": "end"}, worker_id="w1")
    await store.create_job(job(status=WAITING_FOR_WORKER, task=task, outbox=[effect], outbox_of="m1"))

    loaded = await store.load_job("job-1")

    assert loaded is not None
    assert loaded.task == task
    assert loaded.outbox == [effect]
    assert loaded.outbox_of == "m1"


async def test_progress_is_kept_beside_the_state(store: Store) -> None:
    assert await store.get_progress("job-1") is None

    await store.set_progress("job-1", 0.5, "half way")

    assert await store.get_progress("job-1") == (0.5, "half way")


# -- deadlines ----------------------------------------------------------------------------------


async def test_due_returns_entries_at_or_before_now_in_time_order(store: Store) -> None:
    for envelope_id, at in [("c", 30.0), ("a", 10.0), ("later", 50.0), ("b", 20.0)]:
        await store.schedule(deadline(envelope_id, at))

    due = await store.due(now=30.0, limit=10)

    assert [(s.envelope.id, s.at) for s in due] == [("a", 10.0), ("b", 20.0), ("c", 30.0)]


async def test_due_respects_the_limit_earliest_first(store: Store) -> None:
    for i in range(5):
        await store.schedule(deadline(f"d{i}", float(10 - i)))

    due = await store.due(now=100.0, limit=2)

    assert [s.envelope.id for s in due] == ["d4", "d3"]


async def test_due_does_not_remove(store: Store) -> None:
    await store.schedule(deadline("a", 10.0))

    await store.due(now=10.0, limit=10)

    assert [s.envelope.id for s in await store.due(now=10.0, limit=10)] == ["a"]


async def test_schedule_is_idempotent_by_envelope_id(store: Store) -> None:
    first = deadline("a", 10.0)
    await store.schedule(first)
    await store.schedule(first)
    await store.schedule(deadline("a", 99.0))

    assert await store.due(now=1_000.0, limit=10) == [first]


async def test_unschedule_removes_entries_and_ignores_unknown_ids(store: Store) -> None:
    await store.schedule(deadline("a", 10.0))
    await store.schedule(deadline("b", 20.0))

    await store.unschedule(["a", "never-scheduled"])

    assert [s.envelope.id for s in await store.due(now=100.0, limit=10)] == ["b"]


async def test_due_stays_earliest_first_after_an_earlier_due_call(store: Store) -> None:
    await store.schedule(deadline("late", 50.0))
    await store.due(now=100.0, limit=10)  # read, not yet unscheduled (the actor crashed, say)
    await store.schedule(deadline("early", 10.0))

    due = await store.due(now=100.0, limit=10)

    assert [s.envelope.id for s in due] == ["early", "late"]


async def test_due_never_returns_an_entry_after_now(store: Store) -> None:
    await store.schedule(deadline("a", 50.0))
    await store.due(now=100.0, limit=10)

    assert await store.due(now=20.0, limit=10) == []


async def test_an_entry_scheduled_again_after_unschedule_is_due_once_at_its_new_time(store: Store) -> None:
    await store.schedule(deadline("a", 10.0))
    await store.unschedule(["a"])
    await store.schedule(deadline("a", 20.0))

    assert await store.due(now=15.0, limit=10) == []
    assert await store.due(now=25.0, limit=10) == [deadline("a", 20.0)]


async def test_an_entry_scheduled_again_at_the_same_time_is_due_once(store: Store) -> None:
    await store.schedule(deadline("a", 10.0))
    await store.unschedule(["a"])
    await store.schedule(deadline("a", 10.0))

    assert await store.due(now=15.0, limit=10) == [deadline("a", 10.0)]


async def test_next_due_is_the_earliest_deadline_or_none(store: Store) -> None:
    assert await store.next_due() is None
    await store.schedule(deadline("b", 20.0))
    await store.schedule(deadline("a", 10.0))

    assert await store.next_due() == 10.0
    await store.unschedule(["a", "b"])
    assert await store.next_due() is None


async def test_scheduled_envelope_round_trips(store: Store) -> None:
    item = Scheduled("router", envelope("echo", offer("t1"), 1.0, id="x"), 5.0)
    await store.schedule(item)

    [due] = await store.due(now=5.0, limit=1)

    assert due == item


# -- a job's deadlines, written with its state (ADR 0008) -----------------------------------------


async def committed(store: Store, schedule: list[Scheduled], unschedule: list[str], expected: int = 1) -> JobState:
    """Commit job-1 (created if missing) at ``expected`` with deadline changes; returns the state."""
    await store.create_job(job())
    state = await store.load_job("job-1")
    assert state is not None
    state.deadlines = [item.envelope.id for item in schedule]
    await store.commit_job(state, expected_version=expected, schedule=schedule, unschedule=unschedule)
    return state


async def test_a_commit_adds_and_removes_deadlines_with_the_state(store: Store) -> None:
    await store.schedule(deadline("obsolete", 10.0))
    await store.schedule(deadline("other-job", 20.0))
    result = Scheduled("jobs", envelope("job-1", Timeout("result", "t1"), 1.0, id="deadline:job-1:result:t1"), 15.0)

    state = await committed(store, [result], ["obsolete", "never-scheduled"])

    assert state.version == 2
    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert (loaded.version, loaded.deadlines) == (2, ["deadline:job-1:result:t1"])
    assert await store.due(now=100.0, limit=10) == [result, deadline("other-job", 20.0)]
    assert await store.next_due() == 15.0


async def test_a_commit_that_loses_the_compare_and_set_changes_no_deadline(store: Store) -> None:
    await store.schedule(deadline("kept", 10.0))
    await committed(store, [], [])  # version 2

    with pytest.raises(VersionConflict):
        await committed(store, [deadline("new", 5.0)], ["kept"], expected=1)

    assert await store.due(now=100.0, limit=10) == [deadline("kept", 10.0)]
    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert (loaded.version, loaded.deadlines) == (2, [])


async def test_a_commit_of_an_unknown_job_schedules_nothing(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.commit_job(job("ghost"), expected_version=1, schedule=[deadline("d", 5.0)])

    assert await store.due(now=100.0, limit=10) == []
    assert await store.next_due() is None


async def test_a_committed_deadline_is_scheduled_once_by_envelope_id(store: Store) -> None:
    await store.schedule(deadline("d", 10.0))

    await committed(store, [deadline("d", 99.0), deadline("e", 20.0)], [])

    assert await store.due(now=1_000.0, limit=10) == [deadline("d", 10.0), deadline("e", 20.0)]


async def test_committed_deadlines_fire_like_scheduled_ones_until_a_commit_removes_them(store: Store) -> None:
    many = [deadline(f"d{i}", 10.0 + i) for i in range(3)]
    await committed(store, many, [])
    assert [s.envelope.id for s in await store.due(now=11.0, limit=10)] == ["d0", "d1"]  # read, as the leader does

    state = await store.load_job("job-1")
    assert state is not None
    await store.commit_job(state, expected_version=2, unschedule=["d0", "d1", "d2"])

    assert await store.due(now=100.0, limit=10) == []
    assert await store.next_due() is None
    await store.unschedule(["d0", "d1"])  # the leader's removal after publishing: harmless
    assert await store.due(now=100.0, limit=10) == []


async def test_a_commit_may_remove_a_deadline_and_add_it_back_at_a_new_time(store: Store) -> None:
    await committed(store, [deadline("d", 10.0)], [])
    state = await store.load_job("job-1")
    assert state is not None

    await store.commit_job(state, expected_version=2, schedule=[deadline("d", 30.0)], unschedule=["d"])

    assert await store.due(now=20.0, limit=10) == []
    assert await store.due(now=30.0, limit=10) == [deadline("d", 30.0)]


# -- tasks --------------------------------------------------------------------------------------


async def test_tasks_are_taken_by_priority_then_fifo(store: Store) -> None:
    for task_id, priority in [("low-1", 0.0), ("high-1", 5.0), ("low-2", 0.0), ("high-2", 5.0), ("mid", 1.0)]:
        await store.push_task(offer(task_id, priority=priority))

    taken = [await store.take_task("w1", ["echo"], 1.0, now=0.0, lease_seconds=LEASE) for _ in range(5)]

    assert [t.task_id if t else None for t in taken] == ["high-1", "high-2", "mid", "low-1", "low-2"]


# The stores in STORES use the default aging; T0 is a realistic epoch time, so the scores are large.
AGING = DEFAULT_TASK_PRIORITY_AGING_SECONDS
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


# -- reservations -------------------------------------------------------------------------------


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


async def test_capable_workers_are_the_live_workers_having_the_skill(store: Store) -> None:
    await store.put_worker(WorkerRecord(worker_id="a", skills=["echo", "b"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="b", skills=["b"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="gone", skills=["echo"], expires_at=50.0))
    await store.put_worker(WorkerRecord(worker_id="c", skills=["echo"], hot_skills=["echo"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="c", skills=["b"], expires_at=100.0))  # dropped echo

    capable = await store.capable_workers("echo", now=60.0)

    assert [w.worker_id for w in capable] == ["a"]
    assert await store.capable_workers("nobody-has-it", now=60.0) == []


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


# -- leases -------------------------------------------------------------------------------------


async def take(store: Store, task_id: str, worker_id: str = "w1", now: float = 0.0, **fields: Any) -> None:
    """Queue ``task_id`` and have ``worker_id`` take it at ``now`` (a lease of ``LEASE`` seconds)."""
    await store.push_task(offer(task_id, **fields))
    taken = await store.take_task(worker_id, ["echo"], 0, now=now, lease_seconds=LEASE)
    assert taken is not None
    assert taken.task_id == task_id


async def test_a_lease_keeps_fractional_times_exactly_through_extensions(store: Store) -> None:
    now = 1_800_000_000.123
    await take(store, "t1", now=now)

    lease = await store.get_lease("t1")
    await store.extend_leases("w1", ["t1"], until=now + 2.5 * LEASE)
    extended = await store.get_lease("t1")

    assert lease is not None
    assert extended is not None
    assert (lease.taken_at, lease.expires_at) == (now, now + LEASE)
    assert extended == Lease("t1", "job-1", "w1", taken_at=now, expires_at=now + 2.5 * LEASE)


async def test_a_branch_lease_names_its_group_and_a_jobs_own_task_none(store: Store) -> None:
    await store.push_task(TaskOffer(job_id="job-1", task_id="b1", type="echo", params={}, group_id="group-7"))
    await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)
    await take(store, "t1")

    branch, own = await store.get_lease("b1"), await store.get_lease("t1")

    assert branch is not None
    assert own is not None
    assert (branch.job_id, branch.group_id) == ("job-1", "group-7")
    assert (own.job_id, own.group_id) == ("job-1", None)


async def test_extend_leases_moves_only_the_workers_own_leases(store: Store) -> None:
    await take(store, "mine", "w1")
    await take(store, "theirs", "w2")

    held = await store.extend_leases("w1", ["theirs", "mine", "unknown"], until=500.0)

    assert held == ["mine"]
    mine, theirs = await store.get_lease("mine"), await store.get_lease("theirs")
    assert mine is not None
    assert theirs is not None
    assert (mine.worker_id, mine.expires_at) == ("w1", 500.0)
    assert (theirs.worker_id, theirs.expires_at) == ("w2", LEASE)
    assert await store.get_lease("unknown") is None


async def test_extend_leases_never_shortens_a_lease(store: Store) -> None:
    await take(store, "t1")

    assert await store.extend_leases("w1", ["t1"], until=LEASE - 30) == ["t1"]

    lease = await store.get_lease("t1")
    assert lease is not None
    assert lease.expires_at == LEASE
    assert await store.extend_leases("w1", [], until=1000.0) == []


async def test_expired_leases_are_listed_earliest_first_up_to_the_limit(store: Store) -> None:
    await take(store, "late", now=20.0)
    await take(store, "early", now=0.0)
    await take(store, "middle", now=10.0)

    assert await store.expired_leases(now=LEASE - 0.5, limit=10) == []
    assert [lease.task_id for lease in await store.expired_leases(now=LEASE + 10, limit=10)] == ["early", "middle"]
    assert [lease.task_id for lease in await store.expired_leases(now=LEASE + 100, limit=2)] == ["early", "middle"]
    assert await store.expired_leases(now=LEASE + 100, limit=0) == []


async def test_expired_leases_are_whole_leases_and_stay_until_released(store: Store) -> None:
    await push_branch_and_take(store)

    first = await store.expired_leases(now=LEASE, limit=10)  # expiring exactly now counts
    again = await store.expired_leases(now=LEASE, limit=10)

    assert first == again == [Lease("b1", "job-1", "w1", taken_at=0.0, expires_at=LEASE, group_id="group-7")]
    await store.release_lease("b1")
    assert await store.expired_leases(now=LEASE, limit=10) == []
    assert await store.get_lease("b1") is None


async def push_branch_and_take(store: Store) -> None:
    await store.push_task(TaskOffer(job_id="job-1", task_id="b1", type="echo", params={}, group_id="group-7"))
    await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)


async def test_an_extended_lease_is_no_longer_expired(store: Store) -> None:
    await take(store, "kept")
    await take(store, "lapsed")

    await store.extend_leases("w1", ["kept"], until=3 * LEASE)

    assert [lease.task_id for lease in await store.expired_leases(now=2 * LEASE, limit=10)] == ["lapsed"]
    assert [lease.task_id for lease in await store.expired_leases(now=3 * LEASE, limit=10)] == ["lapsed", "kept"]


async def test_release_lease_is_idempotent_and_leaves_other_leases(store: Store) -> None:
    await take(store, "t1")
    await take(store, "t2")

    await store.release_lease("t1")
    await store.release_lease("t1")
    await store.release_lease("unknown")

    assert await store.get_lease("t1") is None
    assert await store.get_lease("t2") is not None
    assert await store.extend_leases("w1", ["t1", "t2"], until=1000.0) == ["t2"]  # a released lease is not revived
    assert await store.get_lease("t1") is None


# -- workers ------------------------------------------------------------------------------------


async def test_worker_record_round_trips(store: Store) -> None:
    record = WorkerRecord(worker_id="w1", skills=["echo"], info={"gpu": "a100"}, expires_at=100.0)

    await store.put_worker(record)

    assert await store.get_worker("w1") == record
    assert await store.get_worker("nope") is None


async def test_list_workers_excludes_expired_registrations(store: Store) -> None:
    await store.put_worker(WorkerRecord(worker_id="alive", expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="expired", expires_at=50.0))
    await store.put_worker(WorkerRecord(worker_id="expiring-now", expires_at=60.0))

    listed = await store.list_workers(now=60.0)

    assert [w.worker_id for w in listed] == ["alive"]


async def test_put_worker_refreshes_the_registration(store: Store) -> None:
    await store.put_worker(WorkerRecord(worker_id="w1", expires_at=50.0))
    await store.put_worker(WorkerRecord(worker_id="w1", expires_at=150.0))

    assert [w.worker_id for w in await store.list_workers(now=100.0)] == ["w1"]


async def test_job_and_start_envelope_survive_encoding(store: Store) -> None:
    # the outbox may hold any message type; a Start must round-trip like the others
    effect = Outgoing("jobs", envelope("job-1", Start(), 1.0, id="s1"))
    await store.create_job(job(outbox=[effect]))

    loaded = await store.load_job("job-1")

    assert loaded is not None
    assert loaded.outbox == [effect]


# -- fan-out groups -------------------------------------------------------------------------------


def group(group_id: str = "group-1", **fields: Any) -> GroupState:
    fields.setdefault("size", 1)
    return GroupState(id=group_id, job_id="job-1", created_at=1.0, updated_at=1.0, **fields)


def branch(key: str = "t1", index: int = 0, **task: Any) -> BranchState:
    task = {"id": key, "type": "echo", "params": {"n": index}, "transitions": {}, **task}
    return BranchState(key=key, index=index, task=TaskState(**task))


SUCCESS = {"status": "success", "data": {"n": 1}, "error": None}


async def created(store: Store, *branches: BranchState, group_id: str = "group-1") -> GroupState:
    """A group created and committed once with ``branches`` (version 2), as a ``GroupStart`` does."""
    assert await store.create_group(group(group_id, size=len(branches)))
    state = await store.load_group(group_id)
    assert state is not None
    state.offered = True
    await store.commit_group(state, expected_version=1, branches=branches)
    return state


async def test_create_group_stores_version_one_and_keeps_the_first(store: Store) -> None:
    assert await store.create_group(group()) is True
    assert await store.create_group(group(step=7)) is False

    loaded = await store.load_group("group-1")

    assert loaded is not None
    assert loaded.version == 1
    assert loaded.step == 0
    assert await store.load_branches("group-1") == []
    assert await store.load_group("nope") is None


async def test_commit_group_is_a_compare_and_set_of_the_header_and_its_branches(store: Store) -> None:
    await created(store, branch("t1"))
    winner, loser = await store.load_group("group-1"), await store.load_group("group-1")
    ours, theirs = await store.load_branch("group-1", "t1"), await store.load_branch("group-1", "t1")
    assert winner is not None
    assert loser is not None
    assert ours is not None
    assert theirs is not None
    ours.result, winner.settled = SUCCESS, 1
    theirs.task.worker_id, loser.step = "w9", 9

    await store.commit_group(winner, expected_version=2, branches=[ours])
    with pytest.raises(VersionConflict):
        await store.commit_group(loser, expected_version=2, branches=[theirs, branch("t-new", 1)])

    loaded = await store.load_group("group-1")
    assert loaded is not None
    assert winner.version == loaded.version == 3
    assert loser.version == 2
    assert (loaded.settled, loaded.step) == (1, 0)
    assert await store.load_branch("group-1", "t1") == ours  # the loser's branch was not written
    assert await store.load_branch("group-1", "t-new") is None


async def test_commit_of_an_unknown_group_raises_version_conflict_and_writes_no_branch(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.commit_group(group("ghost"), expected_version=1, branches=[branch("t1")])
    assert await store.load_group("ghost") is None
    assert await store.load_branch("ghost", "t1") is None
    assert await store.load_branches("ghost") == []


async def test_a_branch_is_found_by_its_key_and_by_every_retried_task_id(store: Store) -> None:
    state = await created(store, branch("t1"), branch("t2", 1))
    retried = await store.load_branch("group-1", "t1")
    assert retried is not None
    retried.task.id, retried.task.attempt = "t1-second", 2
    await store.commit_group(state, expected_version=2, branches=[retried])
    retried.task.id, retried.task.attempt = "t1-third", 3
    await store.commit_group(state, expected_version=3, branches=[retried])

    for task_id in ("t1", "t1-second", "t1-third"):
        assert await store.load_branch("group-1", task_id) == retried
    found = await store.load_branch("group-1", "t1-third")
    assert found is not None
    assert found.runs("t1-third")
    assert not found.runs("t1-second")
    assert await store.load_branch("group-1", "t2") == branch("t2", 1)
    assert await store.load_branch("group-1", "unknown") is None
    assert await store.load_branch("no-such-group", "t1") is None


async def test_a_commit_replaces_only_the_branches_it_is_given(store: Store) -> None:
    state = await created(store, *(branch(f"t{n}", n) for n in range(3)))
    settled = branch("t1", 1)
    settled.result = SUCCESS
    state.settled = 1

    await store.commit_group(state, expected_version=2, branches=[settled])
    await store.commit_group(state, expected_version=3)  # a header-only commit

    stored = sorted(await store.load_branches("group-1"), key=lambda b: b.index)
    assert stored == [branch("t0", 0), settled, branch("t2", 2)]
    loaded = await store.load_group("group-1")
    assert loaded is not None
    assert (loaded.version, loaded.settled, loaded.size) == (4, 1, 3)


async def test_thousands_of_branches_go_in_one_commit(store: Store) -> None:
    many = [branch(f"t{n}", n) for n in range(3000)]

    await created(store, *many)

    stored = await store.load_branches("group-1")
    assert sorted(stored, key=lambda b: b.index) == many
    assert await store.load_branch("group-1", "t2999") == many[-1]


async def test_a_loaded_group_and_branch_are_copies(store: Store) -> None:
    await created(store, branch("t1"))
    loaded = await store.load_branch("group-1", "t1")
    header = await store.load_group("group-1")
    assert loaded is not None
    assert header is not None

    loaded.task.params["n"] = 99
    header.applied.append("m1")

    again = await store.load_branch("group-1", "t1")
    assert again is not None
    assert again.task.params == {"n": 0}
    assert (await store.load_branches("group-1"))[0].task.params == {"n": 0}
    again_header = await store.load_group("group-1")
    assert again_header is not None
    assert again_header.applied == []


async def test_a_done_group_round_trips_with_its_outbox(store: Store) -> None:
    done = AggregateDone("group-1", {"t1": {"status": "failure", "data": None, "error": {"code": "X", "message": "m"}}})
    effect = Outgoing("jobs", envelope("job-1", done, 2.0, id="aggregate:group-1"))
    await store.create_group(group())
    state = await store.load_group("group-1")
    assert state is not None
    state.status, state.outbox, state.outbox_of, state.applied = DONE, [effect], "m9", ["m9"]

    await store.commit_group(state, expected_version=1)

    loaded = await store.load_group("group-1")
    assert loaded is not None
    assert loaded == state
    assert loaded.terminal


async def test_groups_and_jobs_are_separate_namespaces(store: Store) -> None:
    await store.create_job(job("same-id", group=GroupRef(id="same-id", aggregate_into="gather", size=1)))
    assert await store.create_group(group("same-id")) is True

    loaded_job, loaded_group = await store.load_job("same-id"), await store.load_group("same-id")

    assert loaded_job is not None
    assert loaded_group is not None
    assert loaded_job.group == GroupRef(id="same-id", aggregate_into="gather", size=1)
    assert loaded_group.job_id == "job-1"


# -- cancellation notices -------------------------------------------------------------------------


async def next_notice(notices: Subscription[CancelNotice]) -> CancelNotice:
    """The next notice (on Redis it comes back through pub/sub); a hang guard, not a wait."""
    async with asyncio.timeout(5.0):
        return await anext(notices)


async def test_announced_cancellations_reach_every_open_subscription_in_order(store: Store) -> None:
    first_batch = [CancelNotice("job-1", "t1", "w1"), CancelNotice("job-2", "t2", "w2")]
    later = CancelNotice("job-3", "t3", "w1")
    with store.cancel_notices() as one, store.cancel_notices() as other:
        await store.announce_cancels(first_batch)
        await store.announce_cancels([])  # nothing to say: nothing sent
        await store.announce_cancels([later])

        for notices in (one, other):
            assert [await next_notice(notices) for _ in range(3)] == [*first_batch, later]


async def test_a_closed_subscription_ends_and_the_others_go_on(store: Store) -> None:
    notice = CancelNotice("job-1", "t1", "w1")
    with store.cancel_notices() as staying:
        leaving = store.cancel_notices()
        leaving.close()
        leaving.close()  # idempotent

        await store.announce_cancels([notice])

        assert await next_notice(staying) == notice
        assert [n async for n in leaving] == []


async def test_closing_the_store_ends_its_subscriptions(store: Store) -> None:
    notices = store.cancel_notices()
    await store.close()
    assert [n async for n in notices] == []
