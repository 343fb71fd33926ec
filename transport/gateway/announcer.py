"""Announcing pickups (``TaskStarted``) without holding the worker's poll for the confirm.

The pickup is already durable when it is announced: ``take_task`` popped the task and recorded
its lease in one atomic store step. So the poll answers at once and the announcement goes out
beside it, owned by the gateway app's ``Announcer`` (a task group), never fire-and-forget.

- A publish that fails (broker unreachable) is tried again, ``ATTEMPTS`` times in all with
  exponential back-off from ``BACKOFF`` seconds; then it is logged and given up.
- A lost announcement loses no task: the worker's result still completes it (the result counts as
  the pickup, ``engine.tasks.started_by_result``), and if the worker dies instead its lease
  expires into a ``TaskLost`` that retries it.
- On close, the announcements under way are waited for (the broker closes after the gateway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from actors.ports.broker import Publisher
from engine.errors import Unavailable
from engine.messages import Envelope

log = logging.getLogger(__name__)

ATTEMPTS = 5
BACKOFF = 0.1  # seconds before the second attempt; doubling


class Announcer:
    """Publishes envelopes in the background, each in a task of its own task group."""

    def __init__(self, broker: Publisher, *, attempts: int = ATTEMPTS, backoff: float = BACKOFF) -> None:
        self._broker, self._attempts, self._backoff = broker, attempts, backoff
        self._group: asyncio.TaskGroup | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Announcer:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        group, self._group = self._group, None
        if group is not None:
            await group.__aexit__(None, None, None)

    def announce(self, route: str, env: Envelope) -> None:
        """Publish ``env`` to ``route`` soon; returns at once. Ordering against other publishes
        is not guaranteed (the receiver's rules accept either order)."""
        if self._group is None:
            raise RuntimeError("the announcer is not running")
        task = self._group.create_task(self._publish(route, env))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait until every announcement made so far is published or given up."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def _publish(self, route: str, env: Envelope) -> None:
        for attempt in range(self._attempts):
            try:
                await self._broker.publish(route, env)
                return
            except Unavailable as exc:
                if attempt + 1 == self._attempts:
                    log.warning("%s of %s not announced (%s); the result or the lease settles it", env.id, env.key, exc)
                    return
                await asyncio.sleep(self._backoff * 2**attempt)
            except Exception:  # never let one announcement take the group (and the others) down
                log.exception("%s of %s not announced", env.id, env.key)
                return


ANNOUNCER = web.AppKey("announcer", Announcer)


def announcer_of(request: web.Request) -> Announcer:
    return request.app[ANNOUNCER]


def install(app: web.Application, broker: Publisher) -> None:
    """Run an ``Announcer`` for ``app`` from its start-up to its clean-up."""
    announcer = app[ANNOUNCER] = Announcer(broker)

    async def running(_: web.Application) -> AsyncIterator[None]:
        async with announcer:
            yield

    app.cleanup_ctx.append(running)
