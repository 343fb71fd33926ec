"""The archiver on the embedded runtime's feed and a real PostgreSQL: every committed state and
event lands once; a batch written but not acknowledged (a crash) is written again harmlessly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.archiver import Archiver
from actors.ports.store import Store
from engine.history import HistoryEvent
from engine.job import FINISHED
from tests.archive.samples import job
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.clock import FakeClock
from tests.support.postgres import fresh_schema
from tests.support.servers import REDIS_URL
from tests.support.waiting import eventually
from transport.archive import Database, PostgresArchive
from transport.memory import MemoryStore
from transport.memory_archive import MemoryArchiveFeed
from transport.redis_store.archive_feed import RedisArchiveFeed


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with fresh_schema() as schema_url:
        yield schema_url


async def _jobs(store: Store, count: int) -> None:
    """``count`` jobs, each created then committed twice with one and two events."""
    for i in range(count):
        state = job(f"job-{i}", created_at=float(i))
        await store.create_job(state)
        state.status = "running"
        await store.commit_job(state, 1, history=[HistoryEvent(1.0, "job_started", "start")])
        state.status, state.finished_at = FINISHED, 2.0
        ended = [HistoryEvent(2.0, "state_entered", "end"), HistoryEvent(2.0, "job_ended", "end")]
        await store.commit_job(state, 2, history=ended)


async def _counts(url: str) -> tuple[int, int, int]:
    connection = await asyncpg.connect(url)
    try:
        jobs = await connection.fetchval("SELECT count(*) FROM avtomat_jobs")
        finished = await connection.fetchval(
            "SELECT count(*) FROM avtomat_jobs WHERE status = 'finished' AND version = 3"
        )
        events = await connection.fetchval("SELECT sum(cardinality(events)) FROM avtomat_job_commits")
    finally:
        await connection.close()
    return int(jobs), int(finished), int(events)


async def test_every_commit_is_archived_and_the_feed_emptied(url: str) -> None:
    feed = MemoryArchiveFeed()
    store = MemoryStore(archive_feed=feed)
    await _jobs(store, 25)
    async with Database(url) as db:
        archiver = Archiver(feed, PostgresArchive(db), time.monotonic, consumer="node-1", batch=10, block=0.0)
        while await archiver.step():
            pass

    assert archiver.archived == 75
    assert await feed.length() == 0
    assert await _counts(url) == (25, 25, 75)


async def test_a_batch_written_by_an_archiver_that_died_before_acknowledging_is_written_once(url: str) -> None:
    feed = MemoryArchiveFeed()
    store = MemoryStore(archive_feed=feed)
    await _jobs(store, 5)
    async with Database(url) as db:
        archive = PostgresArchive(db)
        await archive.write(await feed.read("died", 8, 0.0))  # written, never acknowledged
        survivor = Archiver(feed, archive, time.monotonic, consumer="node-2", reclaim_idle=0.0, block=0.0)
        while await survivor.step():
            pass

    assert await feed.length() == 0
    assert await _counts(url) == (5, 5, 15)


async def test_retention_runs_when_due_and_forgets_jobs_ended_before_the_window(url: str) -> None:
    feed = MemoryArchiveFeed()
    store = MemoryStore(archive_feed=feed)
    clock = FakeClock(10_000.0)
    for job_id, ended in (("old", 1_000.0), ("recent", 9_500.0)):
        await store.create_job(job(job_id, status="finished", finished_at=ended))
    async with Database(url) as db:
        archive = PostgresArchive(db)
        archiver = Archiver(feed, archive, clock, consumer="n", retention=1_000.0, retention_every=60.0, block=0.0)
        await archiver.step()  # archives both, then retention (due at once) forgets "old"
        assert await archive.load_job("old") is None and await archive.load_job("recent") is not None

        clock.advance(1_000.0)  # "recent" ended 1,500 s ago now
        await archiver.step()
        assert await archive.load_job("recent") is None


async def test_two_archivers_sharing_the_redis_feed_archive_every_entry_once(url: str) -> None:
    prefix = unique_prefix()
    async with (
        redis_store(prefix, feed_cap=10_000) as store,
        RedisArchiveFeed(REDIS_URL, prefix=prefix) as feed_a,
        RedisArchiveFeed(REDIS_URL, prefix=prefix) as feed_b,
        Database(url) as db,
    ):
        archive = PostgresArchive(db)
        archivers = [
            Archiver(feed, archive, time.monotonic, consumer=name, batch=7, block=0.05)
            for feed, name in ((feed_a, "node-a"), (feed_b, "node-b"))
        ]
        running = [asyncio.create_task(a.run()) for a in archivers]
        try:
            await _jobs(store, 40)
            await eventually(lambda: sum(a.archived for a in archivers) == 120, "every entry archived", timeout=20.0)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

        assert await feed_a.length() == 0
    assert await _counts(url) == (40, 40, 120)
