"""The parent tasks a holon runs (Pure Holon mode).

The store contract (actors/ports/store/holon.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

from actors.ports.store import Store


async def test_recorded_tasks_are_listed_with_when_they_were_accepted(store: Store) -> None:
    assert await store.holon_tasks() == {}

    await store.add_holon_task("t1", 100.5)
    await store.add_holon_task("t2", 200.0)

    assert await store.holon_tasks() == {"t1": 100.5, "t2": 200.0}


async def test_adding_a_task_again_keeps_the_first_time(store: Store) -> None:
    await store.add_holon_task("t1", 100.0)
    await store.add_holon_task("t1", 300.0)

    assert await store.holon_tasks() == {"t1": 100.0}


async def test_removing_forgets_the_task_and_is_idempotent(store: Store) -> None:
    await store.add_holon_task("t1", 100.0)
    await store.add_holon_task("t2", 100.0)

    await store.remove_holon_task("t1")
    await store.remove_holon_task("t1")
    await store.remove_holon_task("never-added")

    assert await store.holon_tasks() == {"t2": 100.0}
