"""Fan-out groups: the header and its branches.

The store contract (actors/ports/store/groups.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.ports.store import Store
from engine.errors import VersionConflict
from engine.group import DONE, BranchState, GroupState
from engine.job import GroupRef, Outgoing, TaskState
from engine.messages import AggregateDone, envelope
from tests.conformance.store_samples import job


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
