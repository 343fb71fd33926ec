"""``GET /api/v1/schedules``: the schedules of ``schedules.toml``, with their next and last fires.

Client-authenticated like every client route. One store read for all of them (their last fires);
the next fire is computed here, as the scheduler computes it (``engine.schedules.upcoming``), so
every gateway answers the same whichever node leads the scheduler. Times are epoch seconds, each
beside the same instant in the schedule's time zone (ISO 8601).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from actors.ports.store import Fire
from engine.schedules import Schedule, upcoming
from transport.gateway.auth import client_of
from transport.gateway.context import context_of
from transport.gateway.errors import json_response


async def list_schedules(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await client_of(request)
    schedules = ctx.schedules
    last = await ctx.store.last_fires([s.name for s in schedules]) if schedules else {}
    now = ctx.clock()
    return json_response([schedule_view(s, last.get(s.name), now) for s in schedules])


def schedule_view(schedule: Schedule, last: Fire | None, now: float) -> dict[str, Any]:
    """What a client sees of a schedule: its rule, and its next and last fires."""
    zone = ZoneInfo(schedule.timezone)
    next_at = upcoming(schedule, None if last is None else last.at, now)
    if last is not None and not last.job_id:
        last = None  # where the schedule started: no fire yet
    return {
        "name": schedule.name,
        "blueprint": schedule.blueprint,
        "rule": schedule.rule.describe(),
        "timezone": schedule.timezone,
        "catch_up": schedule.catch_up,
        "next_fire": next_at,
        "next_fire_local": _local(next_at, zone),
        "last_fire": None if last is None else last.at,
        "last_fire_local": None if last is None else _local(last.at, zone),
        "last_job_id": None if last is None else last.job_id,
    }


def _local(at: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat()
