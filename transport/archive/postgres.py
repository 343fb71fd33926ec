"""``PostgresArchive``: the archiver's writer and the gateway's reader on one ``Database``.

Writes (``write``), one transaction per batch:

- job rows: an upsert that replaces a row only with a newer version, so batches may land in any
  order, twice, or from two archivers at once, and the row still ends at the newest version;
- event rows: keyed by ``(job id, version, position in its commit)``, inserted unless present;
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

_UPSERT_JOB = """
INSERT INTO avtomat_jobs AS j
    (id, client_id, blueprint, status, current_state, created_at, updated_at, finished_at, version, state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO UPDATE SET
    client_id = EXCLUDED.client_id, blueprint = EXCLUDED.blueprint, status = EXCLUDED.status,
    current_state = EXCLUDED.current_state, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
    finished_at = EXCLUDED.finished_at, version = EXCLUDED.version, state = EXCLUDED.state
WHERE j.version < EXCLUDED.version
"""
_INSERT_EVENT = """
INSERT INTO avtomat_job_events (job_id, version, seq, at, event, state, body)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
"""
_FORGET = """
WITH gone AS (DELETE FROM avtomat_jobs WHERE finished_at < $1 RETURNING id),
     events AS (DELETE FROM avtomat_job_events WHERE job_id IN (SELECT id FROM gone))
SELECT count(*) AS n FROM gone
"""


class PostgresArchive:
    """``ArchiveWriter`` and ``ArchiveReader`` on PostgreSQL (the ``Database`` is the caller's)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def write(self, entries: Sequence[FeedEntry]) -> None:
        newest: dict[str, tuple[Any, ...]] = {}
        events: list[tuple[Any, ...]] = []
        for entry in entries:
            state = decode_state(entry.state)
            known = newest.get(state.id)
            if known is None or known[8] < state.version:
                newest[state.id] = _job_row(state, entry.state)
            for seq, raw in enumerate(entry.events):
                event = decode_event(raw)
                events.append((state.id, state.version, seq, event.at, event.event, event.state, raw))
        async with self._db.transaction() as conn:
            if newest:
                await conn.executemany(_UPSERT_JOB, [newest[key] for key in sorted(newest)])
            if events:
                await conn.executemany(_INSERT_EVENT, sorted(events, key=lambda row: row[:3]))

    async def forget_before(self, cutoff: float) -> int:
        rows = await self._db.fetch(_FORGET, cutoff)
        return int(rows[0]["n"])

    async def load_job(self, job_id: str) -> JobState | None:
        rows = await self._db.fetch("SELECT state FROM avtomat_jobs WHERE id = $1", job_id)
        return decode_state(rows[0]["state"]) if rows else None

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        query = "SELECT body FROM avtomat_job_events WHERE job_id = $1 ORDER BY version, seq"
        return [decode_event(row["body"]) for row in await self._db.fetch(query, job_id)]

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
