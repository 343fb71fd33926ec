"""Deadlines: scheduled alone, and with a job's commit (ADR 0008).

The store contract (actors/ports/store/deadlines.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

import pytest

from actors.ports.store import Scheduled, Store
from engine.errors import VersionConflict
from engine.job import JobState
from engine.messages import Timeout, envelope
from tests.conformance.store_samples import deadline, job, offer


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
