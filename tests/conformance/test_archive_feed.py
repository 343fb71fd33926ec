"""The archive feed, on both runtimes: what the store's commits append, and the consumer group's
read, acknowledge and reclaim. Every case runs on the in-memory twin and on Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
import pytest

from actors.ports.archive import ArchiveFeed
from actors.ports.store import Store
from engine.history import HistoryEvent, decode_event
from engine.job import FINISHED, JobState, decode_state
from tests.archive.samples import job
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.clock import FakeClock
from tests.support.servers import REDIS_URL
from transport.memory import MemoryStore
from transport.memory_archive import MemoryArchiveFeed
from transport.redis_store.archive_feed import RedisArchiveFeed


@dataclass(frozen=True)
class FeedCase:
    store: Store
    feed: ArchiveFeed


@contextlib.asynccontextmanager
async def _memory() -> AsyncIterator[FeedCase]:
    feed = MemoryArchiveFeed()
    store = MemoryStore(archive_feed=feed)
    yield FeedCase(store, feed)
    await store.close()


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[FeedCase]:
    prefix = unique_prefix()
    async with redis_store(prefix, feed_cap=1000) as store, RedisArchiveFeed(REDIS_URL, prefix=prefix) as feed:
        yield FeedCase(store, feed)


CASES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[FeedCase]]] = {"memory": _memory, "redis": _redis}


@pytest.fixture(params=sorted(CASES))
async def case(request: pytest.FixtureRequest) -> AsyncIterator[FeedCase]:
    async with CASES[request.param]() as feed_case:
        yield feed_case


async def _run_job(store: Store, job_id: str) -> JobState:
    """Create ``job_id`` and commit it twice (started, then finished), as a job actor would."""
    state = job(job_id)
    assert await store.create_job(state)
    state.status = "running"
    await store.commit_job(state, 1, history=[HistoryEvent(at=1.0, event="job_started", state="start")])
    state.status, state.finished_at = FINISHED, 2.0
    ended = [
        HistoryEvent(at=2.0, event="state_entered", state="end"),
        HistoryEvent(at=2.0, event="job_ended", state="end"),
    ]
    await store.commit_job(state, 2, history=ended)
    return state


async def test_each_creation_and_commit_appends_its_state_and_events(case: FeedCase) -> None:
    await _run_job(case.store, "job-1")

    entries = await case.feed.read("a", 10, 0.0)

    states = [decode_state(e.state) for e in entries]
    assert [(s.id, s.version, s.status) for s in states] == [
        ("job-1", 1, "pending"),
        ("job-1", 2, "running"),
        ("job-1", 3, FINISHED),
    ]
    assert [[decode_event(raw).event for raw in e.events] for e in entries] == [
        [],
        ["job_started"],
        ["state_entered", "job_ended"],
    ]


async def test_a_commit_that_loses_its_compare_and_set_appends_nothing(case: FeedCase) -> None:
    await case.store.create_job(job("job-1"))
    with contextlib.suppress(Exception):
        await case.store.commit_job(job("job-1"), 7)

    assert len(await case.feed.read("a", 10, 0.0)) == 1  # the creation only


async def test_an_entry_goes_to_one_consumer_and_stays_pending_until_acknowledged(case: FeedCase) -> None:
    await _run_job(case.store, "job-1")

    first = await case.feed.read("a", 2, 0.0)
    second = await case.feed.read("b", 10, 0.0)
    assert len(first) == 2 and len(second) == 1
    assert await case.feed.read("b", 10, 0.0) == []  # nothing new: the rest is pending on a and b

    await case.feed.ack([e.id for e in first])
    assert [e.id for e in await case.feed.reclaim("c", 0.0, 10)] == [e.id for e in second]  # a's are gone


async def test_reclaim_moves_only_entries_pending_for_the_idle_time(case: FeedCase) -> None:
    await _run_job(case.store, "job-1")
    taken = await case.feed.read("dead", 10, 0.0)

    assert await case.feed.reclaim("alive", 3600.0, 10) == []
    reclaimed = await case.feed.reclaim("alive", 0.0, 10)

    assert [e.id for e in reclaimed] == [e.id for e in taken]
    assert [msgspec.msgpack.decode(e.state)["id"] for e in reclaimed] == ["job-1"] * 3
    await case.feed.ack([e.id for e in reclaimed])
    assert await case.feed.reclaim("alive", 0.0, 10) == []


async def test_without_the_archive_a_store_writes_no_feed() -> None:
    prefix = unique_prefix()
    async with redis_store(prefix) as store, RedisArchiveFeed(REDIS_URL, prefix=prefix) as feed:
        await _run_job(store, "job-1")
        assert await feed.read("a", 10, 0.0) == []


async def test_the_oldest_entry_not_archived_has_an_age_until_the_feed_is_empty(case: FeedCase) -> None:
    assert await case.feed.oldest_age() is None
    await _run_job(case.store, "job-1")

    age = await case.feed.oldest_age()
    assert age is not None and 0.0 <= age < 60.0
    entries = await case.feed.read("a", 2, 0.0)
    await case.feed.ack([e.id for e in entries])
    assert await case.feed.oldest_age() is not None  # the third entry waits still
    await case.feed.ack([e.id for e in await case.feed.read("a", 10, 0.0)])
    assert await case.feed.oldest_age() is None


async def test_in_memory_the_age_counts_on_the_feed_clock_from_the_oldest_remaining_entry() -> None:
    clock = FakeClock(100.0)
    feed = MemoryArchiveFeed(clock=clock)
    feed.append(b"first")
    clock.advance(5.0)
    feed.append(b"second")
    clock.advance(2.0)

    assert await feed.oldest_age() == 7.0
    await feed.ack([(await feed.read("a", 1, 0.0))[0].id])
    assert await feed.oldest_age() == 2.0
