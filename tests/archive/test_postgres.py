"""The archive on PostgreSQL: migrations, idempotent writes, the listing's filters and pages, retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.ports.archive import JobQuery
from engine.history import HistoryEvent, encode_event
from tests.archive.samples import entry, job
from tests.support.postgres import fresh_schema
from transport.archive import Database, PostgresArchive
from transport.archive.database import migrations


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with fresh_schema() as schema_url:
        yield schema_url


@pytest.fixture
async def archive(url: str) -> AsyncIterator[PostgresArchive]:
    async with Database(url) as db:
        yield PostgresArchive(db)


async def test_migrations_apply_once_even_when_two_nodes_start_together(url: str) -> None:
    first, second = Database(url), Database(url)
    try:
        await asyncio.gather(first.connect(), second.connect())  # both migrate, serialized by the lock
        assert await first.migrate() == []
        connection = await asyncpg.connect(url)
        try:
            names = [row["name"] for row in await connection.fetch("SELECT name FROM avtomat_migrations")]
        finally:
            await connection.close()
    finally:
        await first.close()
        await second.close()
    assert names == [name for name, _ in migrations()]


async def test_an_archive_of_one_row_per_event_keeps_its_history_when_migrated_to_rows_per_commit(url: str) -> None:
    (first_name, first_sql), *_ = migrations()
    old = [(1, 0, "job_started"), (2, 0, "a"), (2, 1, "b")]  # (version, position in the commit, event)
    connection = await asyncpg.connect(url)
    try:  # the archive as 0001 left it: avtomat_job_events, one row per event
        await connection.execute(first_sql)
        await connection.execute("CREATE TABLE avtomat_migrations (name text PRIMARY KEY, applied_at timestamptz)")
        await connection.execute("INSERT INTO avtomat_migrations (name) VALUES ($1)", first_name)
        await connection.executemany(
            "INSERT INTO avtomat_job_events VALUES ('j1', $1, $2, 0, $3, 's', $4)",
            [(version, seq, name, encode_event(HistoryEvent(0.0, name, "s"))) for version, seq, name in old],
        )
    finally:
        await connection.close()

    async with Database(url) as db:
        history = await PostgresArchive(db).load_history("j1")

    assert [e.event for e in history] == ["job_started", "a", "b"]


async def test_writing_a_batch_twice_leaves_the_rows_of_writing_it_once(archive: PostgresArchive) -> None:
    batch = [entry(job("j1", version=1), "job_started"), entry(job("j1", version=2, status="finished"), "job_ended")]

    await archive.write(batch)
    await archive.write(batch)
    await archive.write(batch[:1])  # an old version arriving late changes nothing

    state = await archive.load_job("j1")
    assert state is not None and (state.version, state.status) == (2, "finished")
    assert [e.event for e in await archive.load_history("j1")] == ["job_started", "job_ended"]


async def test_versions_written_out_of_order_end_at_the_newest(archive: PostgresArchive) -> None:
    await archive.write([entry(job("j1", version=3, status="finished"), "b", "c")])
    await archive.write([entry(job("j1", version=2, status="running"), "a")])

    state = await archive.load_job("j1")
    assert state is not None and state.status == "finished"
    assert [e.event for e in await archive.load_history("j1")] == ["a", "b", "c"]  # commit order


async def test_an_unknown_job_is_none_with_no_history(archive: PostgresArchive) -> None:
    assert await archive.load_job("nope") is None
    assert await archive.load_history("nope") == []


async def test_listing_filters_by_client_status_blueprint_and_time_newest_first(archive: PostgresArchive) -> None:
    await archive.write(
        [
            entry(job("a", created_at=100.0, status="finished")),
            entry(job("b", created_at=200.0, status="failed")),
            entry(job("c", created_at=300.0, status="finished", blueprint="other")),
            entry(job("d", created_at=400.0, status="finished", client_id="client-b")),
        ]
    )

    async def ids(**filters: object) -> list[str]:
        query = JobQuery(client_id="client-a", limit=10, **filters)  # type: ignore[arg-type]
        return [state.id for state in await archive.list_jobs(query)]

    assert await ids() == ["c", "b", "a"]
    assert await ids(statuses=("finished",)) == ["c", "a"]
    assert await ids(statuses=("finished", "failed"), blueprint="tiny") == ["b", "a"]
    assert await ids(created_after=200.0, created_before=300.0) == ["b"]


async def test_pages_follow_the_last_job_of_the_previous_page(archive: PostgresArchive) -> None:
    # Equal creation times: the id breaks the tie, so no job is skipped or repeated across pages.
    await archive.write([entry(job(f"j{i}", created_at=float(i // 2))) for i in range(7)])

    seen: list[str] = []
    before = None
    while True:
        page = await archive.list_jobs(JobQuery(client_id="client-a", limit=3, before=before))
        seen += [state.id for state in page]
        if len(page) < 3:
            break
        before = (page[-1].created_at, page[-1].id)
    assert seen == ["j6", "j5", "j4", "j3", "j2", "j1", "j0"]


async def test_retention_forgets_jobs_that_ended_before_the_cutoff(archive: PostgresArchive) -> None:
    await archive.write(
        [
            entry(job("old", status="finished", finished_at=100.0), "job_ended"),
            entry(job("recent", status="finished", finished_at=900.0), "job_ended"),
            entry(job("running", status="running"), "job_started"),
        ]
    )

    assert await archive.forget_before(500.0) == 1
    assert await archive.forget_before(500.0) == 0

    assert await archive.load_job("old") is None and await archive.load_history("old") == []
    assert await archive.load_job("recent") is not None and await archive.load_job("running") is not None
