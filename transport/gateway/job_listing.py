"""What ``GET /api/v1/jobs`` (``client_api.list_jobs``) asks for: the caller's jobs, newest first,
filtered and paged by an opaque cursor.

Query parameters (each optional; a bad one is a 400 naming it):

- ``status``: one or more statuses, comma-separated (``finished,failed``);
- ``blueprint``: a blueprint name;
- ``created_after`` / ``created_before``: epoch seconds or an ISO 8601 time with a zone
  (inclusive / exclusive);
- ``limit``: 1 to 1000 (default 100);
- ``cursor``: the ``X-Next-Cursor`` of the previous page. ``offset=0`` is accepted (upstream's
  first page); a larger offset is refused: pages follow the cursor.

The body is a JSON list of job views (upstream's shape); ``X-Next-Cursor`` is present when more
may follow. Read from the archive when ``HISTORY_DATABASE_URI`` is set (every job it kept, a
moment behind the store), otherwise from the store (live jobs only).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
from collections.abc import Mapping

import msgspec
from aiohttp import web

from actors.ports.archive import JobQuery
from engine.job import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    QUARANTINED,
    RUNNING,
    WAITING_FOR_CHILD,
    WAITING_FOR_HUMAN,
    WAITING_FOR_PARALLEL,
    WAITING_FOR_WORKER,
)

MAX_PAGE = 1000
DEFAULT_PAGE = 100
NEXT_CURSOR = "X-Next-Cursor"
STATUSES = frozenset(
    {
        PENDING,
        RUNNING,
        WAITING_FOR_WORKER,
        WAITING_FOR_PARALLEL,
        WAITING_FOR_HUMAN,
        WAITING_FOR_CHILD,
        FINISHED,
        FAILED,
        QUARANTINED,
        CANCELLED,
    }
)
_cursor_decoder = msgspec.msgpack.Decoder(tuple[float, str])
_cursor_encoder = msgspec.msgpack.Encoder()


def parse_query(client_id: str, params: Mapping[str, str]) -> JobQuery:
    """The ``JobQuery`` of the request's parameters; ``HTTPBadRequest`` naming the first bad one."""
    limit = params.get("limit", str(DEFAULT_PAGE))
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= MAX_PAGE:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_PAGE}, got {limit!r}")
    if params.get("offset", "0") != "0":
        raise web.HTTPBadRequest(text="offset is not supported: follow the X-Next-Cursor header with ?cursor=")
    statuses = tuple(s for s in params.get("status", "").split(",") if s)
    unknown = sorted(set(statuses) - STATUSES)
    if unknown:
        raise web.HTTPBadRequest(text=f"status {unknown[0]!r} is not one of {', '.join(sorted(STATUSES))}")
    blueprint = params.get("blueprint") or None
    cursor = params.get("cursor")
    return JobQuery(
        client_id=client_id,
        limit=int(limit),
        statuses=statuses,
        blueprint=blueprint,
        created_after=_time("created_after", params.get("created_after")),
        created_before=_time("created_before", params.get("created_before")),
        before=None if cursor is None else decode_cursor(cursor),
    )


def encode_cursor(created_at: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(_cursor_encoder.encode((created_at, job_id))).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[float, str]:
    try:
        created_at, job_id = _cursor_decoder.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise web.HTTPBadRequest(text="cursor is not one this API handed out (use X-Next-Cursor as is)") from None
    return created_at, job_id


def _time(name: str, raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = _iso(name, raw)
    if not math.isfinite(value):
        raise web.HTTPBadRequest(text=f"{name} must be a finite time, got {raw!r}")
    return value


def _iso(name: str, raw: str) -> float:
    try:
        moment = datetime.datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise web.HTTPBadRequest(
            text=f"{name} must be epoch seconds or an ISO 8601 time with a zone (2026-01-31T12:00:00Z), got {raw!r}"
        )
    return moment.timestamp()
