"""Announcing pickups (``TaskStarted``) without holding the worker's poll for the confirm.

The pickup is already durable when it is announced: ``take_task`` popped the task and recorded
its lease in one atomic store step. So the poll answers at once and the announcement goes out
beside it, owned by the gateway app's ``Announcer`` (a task group), never fire-and-forget.

- The announcement waits ``delay`` seconds (``PICKUP_ANNOUNCE_DELAY_SECONDS``) before it is
  published, and a result of the task accepted meanwhile withdraws it: the result counts as the
  pickup (``engine.tasks.started_by_result``), so a short task costs its job one mailbox
  message and one activation fewer. A task still running after ``delay`` is announced as before;
  the only thing that waits is the job view's "running". A pickup near its task's dispatch
  deadline goes out at once (``task_api``): late, it could find the task failed for want of a
  worker.
- A publish that fails (broker unreachable) is tried again, ``ATTEMPTS`` times in all with
  exponential back-off from ``BACKOFF`` seconds; then it is logged and given up.
- A lost announcement loses no task: the worker's result still completes it, and if the worker
  dies instead its lease expires into a ``TaskLost`` that retries it.
- On close (and on ``drain``), the delayed announcements go out at once and every announcement
  under way is waited for (the broker closes after the gateway).
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

    def __init__(
        self, broker: Publisher, *, delay: float = 0.0, attempts: int = ATTEMPTS, backoff: float = BACKOFF
    ) -> None:
        self._broker, self._delay, self._attempts, self._backoff = broker, delay, attempts, backoff
        self._group: asyncio.TaskGroup | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._delayed: dict[str, tuple[asyncio.TimerHandle, str, Envelope]] = {}  # by task id

    async def __aenter__(self) -> Announcer:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._launch_delayed()
        group, self._group = self._group, None
        if group is not None:
            await group.__aexit__(None, None, None)

    def announce(self, route: str, env: Envelope, *, task_id: str, at_once: bool = False) -> None:
        """Publish ``env`` (the pickup of ``task_id``) to ``route`` after the delay (or now if
        ``at_once``), unless withdrawn first; returns at once. Ordering against other publishes
        is not guaranteed (the receiver's rules accept either order)."""
        if self._group is None:
            raise RuntimeError("the announcer is not running")
        if at_once or self._delay <= 0:
            self._launch(route, env)
            return
        self.hurry(task_id)  # a task picked up again: its earlier pickup goes out now
        handle = asyncio.get_running_loop().call_later(self._delay, self._launch_delayed_one, task_id)
        self._delayed[task_id] = (handle, route, env)

    def withdraw(self, task_id: str) -> None:
        """Drop the pickup of ``task_id`` if it has not left yet: its result has been published."""
        delayed = self._delayed.pop(task_id, None)
        if delayed is not None:
            delayed[0].cancel()

    def hurry(self, task_id: str) -> None:
        """Publish the pickup of ``task_id`` now if it is waiting out its delay."""
        delayed = self._delayed.pop(task_id, None)
        if delayed is not None:
            delayed[0].cancel()
            self._launch(delayed[1], delayed[2])

    async def drain(self) -> None:
        """Publish the delayed announcements now and wait until every announcement made so far is
        published or given up."""
        self._launch_delayed()
        while self._pending:
            await asyncio.wait(set(self._pending))

    def _launch_delayed_one(self, task_id: str) -> None:
        _, route, env = self._delayed.pop(task_id)
        self._launch(route, env)

    def _launch_delayed(self) -> None:
        for task_id in list(self._delayed):
            self.hurry(task_id)

    def _launch(self, route: str, env: Envelope) -> None:
        if self._group is None:  # closed meanwhile: ``__aexit__`` launched it already
            return
        task = self._group.create_task(self._publish(route, env))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

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


def install(app: web.Application, broker: Publisher, *, delay: float) -> None:
    """Run an ``Announcer`` for ``app`` from its start-up to its clean-up."""
    announcer = app[ANNOUNCER] = Announcer(broker, delay=delay)

    async def running(_: web.Application) -> AsyncIterator[None]:
        async with announcer:
            yield

    app.cleanup_ctx.append(running)
