"""Jobs: create, load and commit by compare-and-set, progress.

The store contract (actors/ports/store/jobs.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

import pytest

from actors.ports.store import Store
from engine.errors import VersionConflict
from engine.job import WAITING_FOR_WORKER, Outgoing, TaskState
from engine.messages import Start, envelope
from tests.conformance.store_samples import job, offer


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


async def test_job_and_start_envelope_survive_encoding(store: Store) -> None:
    # the outbox may hold any message type; a Start must round-trip like the others
    effect = Outgoing("jobs", envelope("job-1", Start(), 1.0, id="s1"))
    await store.create_job(job(outbox=[effect]))

    loaded = await store.load_job("job-1")

    assert loaded is not None
    assert loaded.outbox == [effect]
