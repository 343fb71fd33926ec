"""``PostgresArchive``: the archiver's writer and the gateway's reader on one ``Database``.

Writes (``write``), one transaction per batch and one statement per table, each inserting the
whole batch from arrays (``unnest``): PostgreSQL parses and plans it once, not once per row.

- job rows: an upsert that replaces a row only with a newer version, so batches may land in any
  order, twice, or from two archivers at once, and the row still ends at the newest version;
- history: one row per commit, keyed by ``(job id, version)``, holding that commit's events in
  order; inserted unless present;
- rows are sorted by key so two archivers' transactions lock them in the same order (no deadlock
  between them; one that happens anyway is ``ArchiveUnavailable`` and the batch is written again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.ports.archive import FeedEntry, JobQuery
from engine.history import HistoryEvent, decode_event
from engine.job import JobState, decode_state
from transport.archive.database import Database

_UPSERT_JOBS = """
INSERT INTO avtomat_jobs AS j
    (id, client_id, blueprint, status, current_state, created_at, updated_at, finished_at, version, state)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::float8[], $7::float8[], $8::float8[], $9::int[], $10::bytea[])
ON CONFLICT (id) DO UPDATE SET
    client_id = EXCLUDED.client_id, blueprint = EXCLUDED.blueprint, status = EXCLUDED.status,
    current_state = EXCLUDED.current_state, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
    finished_at = EXCLUDED.finished_at, version = EXCLUDED.version, state = EXCLUDED.state
WHERE j.version < EXCLUDED.version
"""
# Events arrive flattened (job, version, body), in order; grouped back into one row per commit.
_INSERT_COMMITS = """
INSERT INTO avtomat_job_commits (job_id, version, events)
SELECT job_id, version, array_agg(body ORDER BY n)
FROM unnest($1::text[], $2::int[], $3::bytea[]) WITH ORDINALITY AS e(job_id, version, body, n)
GROUP BY job_id, version
ORDER BY job_id, version
ON CONFLICT DO NOTHING
"""
_FORGET = """
WITH gone AS (DELETE FROM avtomat_jobs WHERE finished_at < $1 RETURNING id),
     commits AS (DELETE FROM avtomat_job_commits WHERE job_id IN (SELECT id FROM gone))
SELECT count(*) AS n FROM gone
"""


class PostgresArchive:
    """``ArchiveWriter`` and ``ArchiveReader`` on PostgreSQL (the ``Database`` is the caller's)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, entries: Sequence[FeedEntry]) -> None:
        newest: dict[str, tuple[Any, ...]] = {}
        commits: dict[tuple[str, int], tuple[bytes, ...]] = {}
        for entry in entries:
            state = decode_state(entry.state)
            known = newest.get(state.id)
            if known is None or known[8] < state.version:
                newest[state.id] = _job_row(state, entry.state)
            if entry.events:
                commits[state.id, state.version] = entry.events
        flat = [(job_id, version, event) for (job_id, version), events in sorted(commits.items()) for event in events]
        async with self._db.transaction() as conn:
            if newest:
                await conn.execute(_UPSERT_JOBS, *_columns([newest[key] for key in sorted(newest)]))
            if flat:
                await conn.execute(_INSERT_COMMITS, *_columns(flat))

    async def forget_before(self, cutoff: float) -> int:
        rows = await self._db.fetch(_FORGET, cutoff)
        return int(rows[0]["n"])

    async def load_job(self, job_id: str) -> JobState | None:
        rows = await self._db.fetch("SELECT state FROM avtomat_jobs WHERE id = $1", job_id)
        return decode_state(rows[0]["state"]) if rows else None

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        query = "SELECT events FROM avtomat_job_commits WHERE job_id = $1 ORDER BY version"
        return [decode_event(raw) for row in await self._db.fetch(query, job_id) for raw in row["events"]]

    async def list_jobs(self, query: JobQuery) -> list[JobState]:
        where, args = ["client_id = $1"], [query.client_id]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.statuses:
            where.append(f"status = ANY({arg(list(query.statuses))}::text[])")
        if query.blueprint is not None:
            where.append(f"blueprint = {arg(query.blueprint)}")
        if query.created_after is not None:
            where.append(f"created_at >= {arg(query.created_after)}")
        if query.created_before is not None:
            where.append(f"created_at < {arg(query.created_before)}")
        if query.before is not None:
            where.append(f"(created_at, id) < ({arg(query.before[0])}, {arg(query.before[1])})")
        sql = (
            f"SELECT state FROM avtomat_jobs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, id DESC LIMIT {arg(query.limit)}"
        )
        return [decode_state(row["state"]) for row in await self._db.fetch(sql, *args)]


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """``rows`` (not empty) as column lists: the arguments of an ``unnest`` insert."""
    return [list(column) for column in zip(*rows, strict=True)]


def _job_row(state: JobState, blob: bytes) -> tuple[Any, ...]:
    return (
        state.id,
        state.client_id,
        state.blueprint,
        state.status,
        state.current_state,
        state.created_at,
        state.updated_at,
        state.finished_at,
        state.version,
        blob,
    )
