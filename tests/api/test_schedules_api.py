"""``GET /api/v1/schedules`` lists the schedules with their next and last fires; a scheduled job's
view names its schedule and fire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.ports.store import Fire
from engine.job import JobState
from engine.registry import BlueprintRegistry
from engine.schedules import Calendar, Every, Schedule, fire_job_id
from tests.api.conftest import CLIENT, CLIENT_ID, CLIENT_TOKEN, SECRET, WORKER_TOKEN
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 28, 12, 0, 5, tzinfo=BERLIN).timestamp()  # the day before the clocks go forward
NIGHTLY = Schedule("nightly", "tiny", Calendar("30 2 * * *", BERLIN, "daily_at 02:30"), client_id=CLIENT_ID)
POLL = Schedule("poll", "tiny", Every(60), catch_up="once", client_id=CLIENT_ID)

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    yield store
    await store.close()


@pytest.fixture
async def http(store: MemoryStore) -> AsyncIterator[Client]:
    settings = Settings(client_token=CLIENT_TOKEN, global_worker_token=WORKER_TOKEN, orchestrator_secret_key=SECRET)
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    broker = MemoryBroker()
    app = build_app(GatewayContext(settings, store, broker, registry, FakeClock(NOW), (NIGHTLY, POLL)))
    async with TestClient(TestServer(app)) as client:
        yield client
    await broker.close()


async def test_each_schedule_is_listed_with_its_next_and_last_fire(http: Client, store: MemoryStore) -> None:
    last_poll = int(NOW) // 60 * 60
    await store.record_fire("poll", Fire(last_poll, fire_job_id("poll", last_poll)))

    resp = await http.get("/api/v1/schedules", headers=CLIENT)

    assert resp.status == 200
    nightly, poll = await resp.json()
    assert nightly == {
        "name": "nightly",
        "blueprint": "tiny",
        "rule": "daily_at 02:30",
        "timezone": "Europe/Berlin",
        "catch_up": "skip",
        "next_fire": datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN).timestamp(),  # 02:30 is skipped that night
        "next_fire_local": "2026-03-29T03:00:00+02:00",
        "last_fire": None,
        "last_fire_local": None,
        "last_job_id": None,
    }
    assert (poll["rule"], poll["timezone"], poll["catch_up"]) == ("interval_seconds 60", "UTC", "once")
    assert (poll["last_fire"], poll["last_job_id"]) == (last_poll, fire_job_id("poll", last_poll))
    assert poll["next_fire"] == last_poll + 60
    assert poll["last_fire_local"] == datetime.fromtimestamp(last_poll, ZoneInfo("UTC")).isoformat()


async def test_where_a_schedule_started_is_not_shown_as_a_fire(http: Client, store: MemoryStore) -> None:
    await store.record_fire("nightly", Fire(int(NOW) - 5, ""))  # a leader saw it, it has not fired yet

    nightly, _ = await (await http.get("/api/v1/schedules", headers=CLIENT)).json()

    assert (nightly["last_fire"], nightly["last_job_id"]) == (None, None)
    assert nightly["next_fire_local"] == "2026-03-29T03:00:00+02:00"


async def test_listing_schedules_takes_the_client_token(http: Client) -> None:
    assert (await http.get("/api/v1/schedules")).status == 401
    resp = await http.get("/api/v1/schedules", headers={"X-Client-Token": "wrong"})
    assert resp.status == 403
    assert "error" in await resp.json()


async def test_a_scheduled_jobs_view_names_its_schedule_and_fire(http: Client, store: MemoryStore) -> None:
    at = int(NOW) // 60 * 60
    job_id = fire_job_id("poll", at)
    state = JobState(
        id=job_id,
        blueprint="tiny",
        client_id=CLIENT_ID,
        current_state="start",
        initial_data={},
        created_at=NOW,
        updated_at=NOW,
        schedule="poll",
        scheduled_for=float(at),
    )
    assert await store.create_job(state)

    view = await (await http.get(f"/api/v1/jobs/{job_id}", headers=CLIENT)).json()

    assert (view["job_id"], view["schedule"], view["scheduled_for"]) == (job_id, "poll", at)


async def test_without_schedules_the_list_is_empty(store: MemoryStore) -> None:
    settings = Settings(client_token=CLIENT_TOKEN, global_worker_token=WORKER_TOKEN, orchestrator_secret_key=SECRET)
    app = build_app(GatewayContext(settings, store, MemoryBroker(), BlueprintRegistry(), FakeClock(NOW)))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/schedules", headers=CLIENT)
        assert (resp.status, await resp.json()) == (200, [])
