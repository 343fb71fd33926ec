"""PostgreSQL away for a minute under load loses no archived job and writes none twice.

The distributed runtime runs in process (RabbitMQ and Redis of this machine), its archive reached
through a TCP proxy. Jobs go in at a steady rate; ``OUTAGE`` seconds in, the proxy cuts every
connection and refuses new ones, for ``OUTAGE`` seconds, while jobs keep going in and finishing.
Meanwhile listing answers 503 (the archive is away) and a job is still read from Redis. After the
proxy lets connections through again, every job must be in the archive at its final version with
exactly the history Redis holds for it, event for event: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest

from engine.history import encode_event
from engine.registry import BlueprintRegistry
from tests.archive.test_runtime import TOKEN, settings
from tests.blueprints import tiny_blueprint
from tests.conformance.rabbitmq_case import fresh_prefix
from tests.e2e.servers import _purge
from tests.support.postgres import fresh_schema
from tests.support.proxy import TcpProxy
from tests.support.servers import RABBITMQ_URL, REDIS_URL
from tests.support.waiting import eventually
from transport.app.wiring import Runtime, runtime

pytestmark = [pytest.mark.e2e, pytest.mark.crash]

OUTAGE = 60.0  # seconds PostgreSQL is away
RATE = 5.0  # jobs submitted per second, before, during and after
CATCH_UP_WITHIN = 30.0  # seconds after the proxy is restored, the archive must hold every job


def _through(proxy_port: int, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy_port}"))


async def _submit(rt: Runtime, http: aiohttp.ClientSession, ids: list[str], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        async with http.post(f"{rt.url}/api/v1/jobs/tiny", json={"initial_data": {}}, headers=TOKEN) as resp:
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["job_id"])
        await asyncio.sleep(1 / RATE)  # pacing the load, not waiting for an outcome


@dataclass
class Figures:
    away: float = 0.0  # seconds PostgreSQL was unreachable
    cut: int = 0  # connections the proxy cut
    listing_status: int = 0  # GET /api/v1/jobs during the outage
    job_status: int = 0  # GET /api/v1/jobs/{id} during the outage
    drained: float = 0.0  # seconds from PostgreSQL's return to every job of before and during the outage archived


async def _load_with_outage(rt: Runtime, proxy: TcpProxy, direct: str, ids: list[str]) -> Figures:
    figures = Figures()
    async with aiohttp.ClientSession() as http:
        await _submit(rt, http, ids, 5.0)
        proxy.refuse()
        figures.cut = proxy.cut()
        away_from = time.monotonic()
        during = asyncio.create_task(_submit(rt, http, ids, OUTAGE))
        async with http.get(f"{rt.url}/api/v1/jobs", headers=TOKEN) as resp:
            figures.listing_status = resp.status
        async with http.get(f"{rt.url}/api/v1/jobs/{ids[0]}", headers=TOKEN) as resp:
            figures.job_status = resp.status
        await during
        proxy.restore()
        back_at = time.monotonic()
        figures.away, backlog = back_at - away_from, len(ids)
        after = asyncio.create_task(_submit(rt, http, ids, 5.0))
        await eventually(lambda: _archived(direct, backlog), "the backlog archived", CATCH_UP_WITHIN)
        figures.drained = time.monotonic() - back_at
        await after
    await eventually(lambda: _archived(direct, len(ids)), "every job archived", CATCH_UP_WITHIN)
    return figures


@pytest.mark.timeout(OUTAGE * 2 + CATCH_UP_WITHIN + 60)
async def test_postgres_away_for_a_minute_loses_nothing_and_duplicates_nothing() -> None:
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    namespace = fresh_prefix()
    env = {"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL, "AVTOMAT_NAMESPACE": namespace}
    ids: list[str] = []
    async with fresh_schema() as direct, TcpProxy("127.0.0.1", 5432) as proxy:
        try:
            async with runtime(settings(_through(proxy.port, direct), **env), registry, schedules=()) as rt:
                figures = await _load_with_outage(rt, proxy, direct, ids)
                expected = {job_id: await _redis_copy(rt, job_id) for job_id in ids}
        finally:
            await _purge(namespace)
        archived, lost, duplicated, wrong = await _audit(direct, expected)

    print(
        f"\narchive outage: PostgreSQL away {figures.away:.1f} s ({figures.cut} connections cut), "
        f"{len(ids)} jobs submitted, {archived} archived, lost {lost}, duplicated events {duplicated}, "
        f"rows differing from Redis {wrong}; the backlog drained {figures.drained:.1f} s after PostgreSQL came back"
    )
    assert (figures.listing_status, figures.job_status) == (503, 200)
    assert figures.away >= OUTAGE
    assert (archived, lost, duplicated, wrong) == (len(ids), 0, 0, 0)


async def _redis_copy(rt: Runtime, job_id: str) -> tuple[int, str, list[bytes]]:
    """(version, status, encoded history) of the job as Redis holds it."""
    state = await rt.store.load_job(job_id)
    assert state is not None
    return state.version, state.status, [encode_event(e) for e in await rt.store.load_history(job_id)]


async def _archived(url: str, count: int) -> bool:
    """At least ``count`` finished jobs are in the archive."""
    connection = await asyncpg.connect(url)
    try:
        finished = await connection.fetchval("SELECT count(*) FROM avtomat_jobs WHERE status = 'finished'")
    finally:
        await connection.close()
    return int(finished) >= count


async def _audit(url: str, expected: dict[str, tuple[int, str, list[bytes]]]) -> tuple[int, int, int, int]:
    """(jobs archived, jobs missing, events archived more often than Redis has them, jobs whose row
    or history differs from Redis's copy)."""
    connection = await asyncpg.connect(url)
    try:
        rows = {r["id"]: (r["version"], r["status"]) for r in await connection.fetch("SELECT * FROM avtomat_jobs")}
        events = await connection.fetch(
            "SELECT job_id, body FROM avtomat_job_commits, unnest(events) WITH ORDINALITY AS e(body, n)"
            " ORDER BY job_id, version, n"
        )
    finally:
        await connection.close()
    history: dict[str, list[bytes]] = {}
    for row in events:
        history.setdefault(row["job_id"], []).append(bytes(row["body"]))
    lost = sum(1 for job_id in expected if job_id not in rows)
    duplicated = sum(max(0, len(history.get(j, [])) - len(events_of)) for j, (_, _, events_of) in expected.items())
    wrong = sum(1 for j, (v, s, h) in expected.items() if j in rows and (rows[j] != (v, s) or history.get(j, []) != h))
    return len(rows), lost, duplicated, wrong
