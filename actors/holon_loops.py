"""The holon's loops (Pure Holon mode, ADR 0016): what drives ``actors.holon.Holon``.

``async with HolonLoops(holon, broker)`` registers with the parent (retrying until it answers),
repairs what a crash left (``Holon.reconcile``, again ``grace`` later), then runs three loops in
one TaskGroup, each supervised (an error is logged and the loop restarts after a back-off):

- heartbeats, every ``heartbeat_interval``; a heartbeat the parent refuses (it forgot this worker)
  registers again;
- polls: one long-poll at a time while fewer than ``capacity`` tasks run, each task accepted
  before the next poll; a task in hand is retried while the store or broker is away, never dropped;
- answers: the ``holon`` mailbox (``KeyedRunner``: ack after the answer).

Closing (idempotent) stops polling and heartbeating at once, lets answers in flight finish, and
returns unacked ends to the broker. A poll cut off may have leased a task the holon never saw:
no heartbeat lists it, so the parent's lease lapses and it runs the task again elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from rxon.models import TaskPayload

from actors.holon import Holon
from actors.ports.broker import Broker, Consumer
from actors.runtime import KeyedRunner, is_retryable
from engine.errors import ParentRefused, Unavailable
from engine.messages import Envelope
from engine.routes import HOLON

log = logging.getLogger(__name__)

ANSWERS_PREFETCH = 64
MAX_BACKOFF = 5.0


class HolonLoops:
    def __init__(
        self, holon: Holon, broker: Broker, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.holon, self._broker, self._sleep = holon, broker, sleep
        self.registered = asyncio.Event()
        self._room = asyncio.Event()  # set when an answer frees a slot
        self._group: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None  # registration, reconciliation, then answers
        self._loops: list[asyncio.Task[None]] = []  # heartbeats and polls
        self._consumer: Consumer | None = None
        self._closing = False

    async def __aenter__(self) -> HolonLoops:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._main = self._group.create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        self._closing = True
        for task in self._loops:
            task.cancel()
        if self._consumer is not None:
            await self._consumer.cancel()  # answers in flight finish; then the main task returns
        elif self._main is not None:
            self._main.cancel()  # still registering or reconciling
        await group.__aexit__(None, None, None)

    async def _run(self) -> None:
        await self._supervise("registration", self._register)
        await self._supervise("reconciliation", self.holon.reconcile)
        if self._closing or self._group is None:
            return
        self._loops = [
            self._group.create_task(self._supervise("heartbeats", self._heartbeats)),
            self._group.create_task(self._supervise("polls", self._polls)),
            self._group.create_task(self._supervise("reconciliation", self._reconcile_later)),
        ]
        await self._supervise("answers", self._answers)

    async def _register(self) -> None:
        await self.holon.parent.register(self.holon.skills)
        self.registered.set()
        log.info("registered with the parent orchestrator as worker %s", self.holon.parent.worker_id)

    async def _reconcile_later(self) -> None:
        """Once more, ``grace`` after start-up: what a crash just before it left was too young to
        repair then (it might have been another process's accept in progress)."""
        await self._sleep(self.holon.config.grace)
        await self.holon.reconcile()

    async def _heartbeats(self) -> None:
        while True:
            try:
                await self.holon.beat()
            except ParentRefused as exc:
                log.warning("the parent refused a heartbeat (%s); registering again", exc)
                await self._register()
            await self._sleep(self.holon.config.heartbeat_interval)

    async def _polls(self) -> None:
        config = self.holon.config
        skills = [skill.name for skill in self.holon.skills]
        while True:
            if len(await self.holon.running()) >= config.capacity:
                await self._wait_for_room()
                continue
            task = await self.holon.parent.next_task(skills, config.poll_seconds)
            if task is not None:
                await self._accept(task)

    async def _accept(self, task: TaskPayload) -> None:
        """Accept ``task``, retrying while the store or broker is away: it is in hand only here."""
        delay = 0.05
        while True:
            try:
                await self.holon.accept(task)
                return
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                log.warning("accepting parent task %s: %s; retrying in %.2f s", task.task_id, exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def _wait_for_room(self) -> None:
        """Until an answer here frees a slot, or a heartbeat interval passed (another process
        sharing the store may have freed one)."""
        self._room.clear()
        interval = self.holon.config.heartbeat_interval
        waiting = {asyncio.ensure_future(self._room.wait()), asyncio.ensure_future(self._sleep(interval))}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waiting:
                future.cancel()

    async def _answers(self) -> None:
        consumer = self._broker.consume(HOLON, prefetch=ANSWERS_PREFETCH)
        self._consumer = consumer
        try:
            await KeyedRunner("holon", self._answer).run(consumer)
        finally:
            await consumer.close()

    async def _answer(self, env: Envelope) -> None:
        await self.holon.answer(env)
        self._room.set()

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` to its end; if it raises, log and start it again after a back-off."""
        delay = 0.1
        while not self._closing:
            try:
                await run()
                return
            except (Unavailable, ParentRefused) as exc:
                log.warning("holon %s: %s; again in %.1f s", name, exc, delay)
            except Exception:
                log.exception("holon %s failed; again in %.1f s", name, delay)
            await self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
