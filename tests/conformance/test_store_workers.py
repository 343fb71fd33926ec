"""The worker registry.

The store contract (actors/ports/store/workers.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

from actors.ports.store import Store, WorkerRecord


async def test_capable_workers_are_the_live_workers_having_the_skill(store: Store) -> None:
    await store.put_worker(WorkerRecord(worker_id="a", skills=["echo", "b"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="b", skills=["b"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="gone", skills=["echo"], expires_at=50.0))
    await store.put_worker(WorkerRecord(worker_id="c", skills=["echo"], hot_skills=["echo"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="c", skills=["b"], expires_at=100.0))  # dropped echo

    capable = await store.capable_workers("echo", now=60.0)

    assert [w.worker_id for w in capable] == ["a"]
    assert await store.capable_workers("nobody-has-it", now=60.0) == []


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
