"""Rate limits at the gateway: one bucket per key (a client or a worker id) and operation class,
kept in the store, so a limit holds across every gateway (``actors/ports/store/tenancy.py``).

Classes, each ``limit`` calls per ``RATE_LIMIT_PERIOD`` (upstream's variables and defaults):

- ``api``: every client call, ``RATE_LIMIT_LIMIT`` (100) unless the client's table in
  ``clients.toml`` says otherwise;
- ``poll``: a worker's task polls that come back empty, ``RATE_LIMIT_POLL_LIMIT`` (60);
- ``heartbeat``: a worker's heartbeats, ``RATE_LIMIT_HEARTBEAT_LIMIT`` (120);
- ``worker``: a worker's other calls (registration, events, each WebSocket event frame,
  WebSocket connects, results that are ignored), ``RATE_LIMIT_LIMIT``.

A poll that hands out a task and a result that is accepted are work, not noise: they are only
checked (``peek``: refused while the bucket is empty), never counted, so a busy worker, which
polls once per task, is never slowed by its poll limit; the idle polling and stale results
around them are what is counted. Each check is one store call (one Redis script, sent through
the batcher); counting an empty poll or an ignored result afterwards is a second.

A refusal is a 429 with ``Retry-After`` (whole seconds, at least 1) and counts in
``BLOCKED`` (``orchestrator_ratelimit_blocked_total``). ``RATE_LIMITING_ENABLED=false``: no check,
no store call.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from actors.ports.store import RateLimits
from engine.limits import Rate
from transport.app.settings import Settings

API, POLL, HEARTBEAT, WORKER = "api", "poll", "heartbeat", "worker"

T = TypeVar("T")
Check = Coroutine[Any, Any, None]


@dataclass(slots=True)
class BlockedCounter:
    """``orchestrator_ratelimit_blocked_total``: requests refused by a rate limit or a quota, by
    class (``api``, ``poll``, ``heartbeat``, ``worker``, ``quota``); for the metrics endpoint."""

    name: str = "orchestrator_ratelimit_blocked_total"
    by_class: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    def inc(self, kind: str) -> None:
        self.by_class[kind] += 1


BLOCKED = web.AppKey("ratelimit_blocked", BlockedCounter)


class Limiter:
    """The gateway's rate limits on ``store``'s buckets (see the module doc)."""

    def __init__(self, store: RateLimits, settings: Settings, blocked: BlockedCounter) -> None:
        self._store, self._blocked = store, blocked
        self.enabled = settings.rate_limiting_enabled
        period = settings.rate_limit_period
        self._rates = {
            API: Rate(settings.rate_limit_limit, period),
            POLL: Rate(settings.rate_limit_poll_limit, period),
            HEARTBEAT: Rate(settings.rate_limit_heartbeat_limit, period),
            WORKER: Rate(settings.rate_limit_limit, period),
        }

    def rate(self, kind: str, limit: int | None = None, period: float | None = None) -> Rate:
        default = self._rates[kind]
        return Rate(limit or default.limit, period or default.period)

    async def check(self, kind: str, who: str, now: float, rate: Rate | None = None, *, peek: bool = False) -> None:
        """Raise 429 unless ``who`` may make one more ``kind`` call; count it unless ``peek``."""
        if not self.enabled:
            return
        wait = await self._store.rate_hit(f"{kind}:{who}", rate or self._rates[kind], now, peek=peek)
        if wait > 0:
            self._blocked.inc(kind)
            raise too_many(f"rate limit of {kind} calls for {who!r} reached; retry in {wait:.1f} s", wait)

    def checking(
        self, kind: str, who: str, now: float, rate: Rate | None = None, *, peek: bool = False
    ) -> Check | None:
        """``check`` to await beside a handler's own reads (``alongside``), or None when off."""
        return self.check(kind, who, now, rate, peek=peek) if self.enabled else None

    async def count(self, kind: str, who: str, now: float) -> None:
        """Count one ``kind`` call that was let through on a ``peek`` (an empty poll, an ignored
        result); a bucket already empty stays so (nothing more is counted)."""
        if self.enabled:
            await self._store.rate_hit(f"{kind}:{who}", self._rates[kind], now)


async def alongside(check: Check | None, read: Awaitable[T]) -> T:
    """``read``'s value, with ``check`` run concurrently so that a pipelining store sends both in
    one round trip; a refusal (429) is raised once both are done. Without a check: just ``read``."""
    if check is None:
        return await read
    _, value = await asyncio.gather(check, read)
    return value


def too_many(message: str, wait: float | None) -> web.HTTPTooManyRequests:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))} if wait is not None else None
    return web.HTTPTooManyRequests(text=message, headers=headers)
