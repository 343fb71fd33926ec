"""``data_stores``: a dict becomes a small async key-value store, any other object reaches
handlers unchanged. The job tests run a node on the in-memory broker and store; the Redis one
needs a Redis server (skipped locally without one, failed in CI)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis

from actors.node import Node
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.data_stores import AsyncDictStore, data_stores_namespace
from engine.errors import BlueprintError
from engine.job import JobState
from engine.messages import Start, TaskDone, TaskStarted, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.support.servers import REDIS_URL, need_redis
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver
from transport.memory import MemoryBroker, MemoryStore

JOB = "job-1"


# -- the key-value store ------------------------------------------------------------------------


async def test_a_dict_store_gets_sets_and_deletes() -> None:
    store = AsyncDictStore({"a": 1})

    await store.set("b", 2)
    await store.set("a", 10)

    assert await store.get("a") == 10
    assert await store.get("b") == 2
    assert await store.get("missing") is None
    assert await store.get("missing", "fallback") == "fallback"
    assert await store.keys() == ["a", "b"]
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.keys() == ["b"]


async def test_keys_is_a_snapshot() -> None:
    store = AsyncDictStore()
    await store.set("a", 1)

    keys = await store.keys()
    await store.set("b", 2)

    assert keys == ["a"]


# -- the namespace ------------------------------------------------------------------------------


async def test_a_dict_becomes_a_store_over_a_copy_and_the_authors_dict_is_left_alone() -> None:
    given = {"hits": 0}

    namespace = data_stores_namespace("bp", {"counts": given})
    await namespace.counts.set("hits", 5)

    assert isinstance(namespace.counts, AsyncDictStore)
    assert await namespace.counts.get("hits") == 5
    assert given == {"hits": 0}


def test_any_other_object_is_kept_as_the_very_same_object() -> None:
    client, already_a_store, pool = object(), AsyncDictStore(), [1, 2]

    namespace = data_stores_namespace("bp", {"cache": client, "kv": already_a_store, "pool": pool})

    assert namespace.cache is client
    assert namespace.kv is already_a_store
    assert namespace.pool is pool


def test_no_data_stores_is_an_empty_namespace() -> None:
    assert vars(data_stores_namespace("bp", None)) == {}
    assert vars(StateMachineBlueprint("bp").data_stores) == {}


@pytest.mark.parametrize("name", ["not valid", "1st", ""])
def test_a_name_handlers_cannot_reach_as_an_attribute_is_a_blueprint_error(name: str) -> None:
    with pytest.raises(BlueprintError, match="data store name"):
        StateMachineBlueprint("bp", data_stores={name: {}})


# -- in a running job ---------------------------------------------------------------------------


@asynccontextmanager
async def running(bp: StateMachineBlueprint) -> AsyncIterator[tuple[MemoryBroker, MemoryStore]]:
    """A node on the in-memory broker and store with ``bp`` loaded and job ``JOB`` started."""
    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store = MemoryBroker(shards=2), MemoryStore()

    async with Node(registry=registry, store=store, broker=broker, policy=StepPolicy(), sender=Receiver()):
        state = JobState(
            id=JOB,
            blueprint=bp.name,
            client_id="c",
            current_state=bp.start_state,
            initial_data={},
            created_at=0.0,
            updated_at=0.0,
        )
        assert await store.create_job(state)
        await broker.publish(routes.JOBS, envelope(JOB, Start(), 0.0))
        yield broker, store


async def finished(store: MemoryStore) -> JobState:
    async def done() -> bool:
        state = await store.load_job(JOB)
        return state is not None and state.terminal

    await eventually(done, "the job to end")
    state = await store.load_job(JOB)
    assert state is not None
    assert state.status == j.FINISHED, state.error
    return state


async def test_a_dict_store_carries_values_from_one_state_of_a_job_to_the_next() -> None:
    given = {"visits": 10}
    bp = StateMachineBlueprint("remembers", data_stores={"memo": given})

    @bp.handler_for("start", is_start=True)
    async def start(job_id: str, data_stores: Any, actions: Any) -> None:
        await data_stores.memo.set("started_by", job_id)
        await data_stores.memo.set("visits", await data_stores.memo.get("visits") + 1)
        actions.dispatch_task("echo", {}, {"success": "done"})

    @bp.handler_for("done", is_end=True)
    async def done(data_stores: Any, state_history: dict[str, Any]) -> None:
        state_history["started_by"] = await data_stores.memo.get("started_by")
        state_history["visits"] = await data_stores.memo.get("visits")

    async with running(bp) as (broker, store):
        # the task in between makes ``done`` a separate step, run on a later message
        offer = await store.take_task("w1", ["echo"], 5.0, 0.0, lease_seconds=60.0)
        assert offer is not None
        await broker.publish(routes.JOBS, envelope(JOB, TaskStarted(offer.task_id, "w1", at=0.0), 0.0))
        await broker.publish(routes.JOBS, envelope(JOB, TaskDone(offer.task_id, "w1", data={}), 0.0))
        state = await finished(store)

    assert state.state_history == {"started_by": JOB, "visits": 11}
    assert given == {"visits": 10}


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    await need_redis(client)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_redis_client_reaches_the_handler_unchanged_and_works(redis_client: Redis) -> None:
    key = f"avtomat-test-{uuid.uuid4().hex[:8]}:user:123"
    bp = StateMachineBlueprint("blueprint_with_datastore", data_stores={"cache": redis_client})
    seen: list[Any] = []

    @bp.handler_for("start", is_start=True)
    async def start(data_stores: Any, job_id: str, actions: Any) -> None:
        seen.append(data_stores.cache)
        await data_stores.cache.set(key, job_id)
        actions.transition_to("get_from_cache")

    @bp.handler_for("get_from_cache", is_end=True)
    async def cache_handler(data_stores: Any, state_history: dict[str, Any]) -> None:
        state_history["user"] = await data_stores.cache.get(key)

    try:
        async with running(bp) as (_, store):
            state = await finished(store)
        assert await redis_client.get(key) == JOB
    finally:
        await redis_client.delete(key)

    assert seen == [redis_client]
    assert seen[0] is redis_client
    assert state.state_history == {"user": JOB}
