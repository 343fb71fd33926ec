"""The leases of taken tasks.

The store contract (actors/ports/store/tasks.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

from typing import Any

from actors.ports.store import Lease, Store
from engine.messages import TaskOffer
from tests.conformance.store_samples import LEASE, offer


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
