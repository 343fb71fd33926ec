"""The store contract's job records beside the state: history, the quarantine index, and claims;
checked on every implementation in ``STORES``."""

from __future__ import annotations

from typing import Any

import pytest

from actors.ports.store import Store
from engine import job as j
from engine.errors import VersionConflict
from engine.history import HistoryEvent
from engine.job import JobState


def job(job_id: str = "job-1", client_id: str = "c", **fields: Any) -> JobState:
    return JobState(
        id=job_id,
        blueprint="bp",
        client_id=client_id,
        current_state="start",
        initial_data={},
        created_at=1.0,
        updated_at=1.0,
        **fields,
    )


async def created(store: Store, state: JobState) -> JobState:
    await store.create_job(state)
    loaded = await store.load_job(state.id)
    assert loaded is not None
    return loaded


def event(n: int) -> HistoryEvent:
    return HistoryEvent(float(n), f"e{n}", "start", {"n": n})


async def test_commits_append_history_in_order(store: Store) -> None:
    state = await created(store, job())
    await store.commit_job(state, 1, history=[event(1), event(2)])
    await store.commit_job(state, 2, history=[event(3)])

    assert await store.load_history("job-1") == [event(1), event(2), event(3)]
    assert await store.load_history("unknown") == []


async def test_a_lost_compare_and_set_appends_no_history(store: Store) -> None:
    state = await created(store, job())
    await store.commit_job(state, 1, history=[event(1)])

    with pytest.raises(VersionConflict):
        await store.commit_job(state, 1, history=[event(2)])

    assert await store.load_history("job-1") == [event(1)]


async def test_a_quarantined_job_is_listed_for_its_client_until_it_runs_again(store: Store) -> None:
    first, second, other = [await created(store, job(i, client)) for i, client in [("a", "c"), ("b", "c"), ("x", "d")]]
    for state, at in ((second, 5.0), (first, 7.0), (other, 1.0)):
        state.status, state.finished_at = j.QUARANTINED, at
        await store.commit_job(state, 1)

    assert [s.id for s in await store.quarantined_jobs("c", 10)] == ["b", "a"]
    assert [s.id for s in await store.quarantined_jobs("c", 1)] == ["b"]
    assert [s.id for s in await store.quarantined_jobs("d", 10)] == ["x"]

    second.status, second.finished_at = j.RUNNING, None
    await store.commit_job(second, 2)

    assert [s.id for s in await store.quarantined_jobs("c", 10)] == ["a"]


async def test_a_claim_is_taken_once_until_it_is_released(store: Store) -> None:
    assert await store.claim("approval:1", 60) is True
    assert await store.claim("approval:1", 60) is False
    assert await store.claim("approval:2", 60) is True

    await store.release_claim("approval:1")
    await store.release_claim("never-claimed")

    assert await store.claim("approval:1", 60) is True
