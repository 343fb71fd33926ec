"""Fixtures of the broker and store conformance suites.

Every test in this folder is written against the ``Broker`` / ``Store`` protocols only and runs
once per implementation listed in ``BROKERS`` / ``STORES``. Today that is the in-memory pair
(id ``memory``). To add RabbitMQ or Redis, add a factory to the dict: an async context manager
that yields a ``BrokerCase`` (or a ``Store``) on a clean server and cleans up after itself, and
that calls ``tests.support.servers.server_unavailable(reason)`` when it cannot connect, so the suite skips locally and
fails in CI (STYLE.md, rule 3).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from actors.ports.broker import Broker, Consumer, Delivery
from actors.ports.store import Store
from engine.messages import Envelope
from tests.conformance.rabbitmq_case import rabbitmq_broker_case
from tests.conformance.redis_case import redis_store
from transport.memory import MemoryBroker, MemoryStore

# -- broker -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerCase:
    """One broker implementation, with what the protocol leaves to each implementation."""

    broker: Broker
    route: str  # a route (mailbox) no other test uses, empty at the start
    shards: int  # how many shard queues the route is split into
    dead_letters: Callable[[str], Awaitable[list[Envelope]]]
    quiet: Callable[[], Awaitable[None]]  # long enough that a delivery that could happen has happened


async def _yield_to_the_loop() -> None:
    # The in-memory broker delivers within a few loop iterations; no wall-clock wait needed.
    for _ in range(50):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _memory_broker() -> AsyncIterator[BrokerCase]:
    broker = MemoryBroker(shards=4)

    async def dead_letters(route: str) -> list[Envelope]:
        return broker.dead_letters(route)

    try:
        yield BrokerCase(broker, "conformance", 4, dead_letters, _yield_to_the_loop)
    finally:
        await broker.close()


BROKERS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[BrokerCase]]] = {
    "memory": _memory_broker,
    "rabbitmq": rabbitmq_broker_case,
}


@pytest.fixture(params=sorted(BROKERS))
async def broker_case(request: pytest.FixtureRequest) -> AsyncIterator[BrokerCase]:
    async with BROKERS[request.param]() as case:
        yield case


class Inbox:
    """Reads one consumer with bounded waits, and can tell that nothing arrived."""

    def __init__(self, consumer: Consumer, quiet: Callable[[], Awaitable[None]]) -> None:
        self.consumer = consumer
        self._iterator = aiter(consumer)
        self._quiet = quiet
        self._next: asyncio.Task[Delivery] | None = None

    async def _read(self) -> Delivery:
        return await anext(self._iterator)

    def _pending(self) -> asyncio.Task[Delivery]:
        if self._next is None:
            self._next = asyncio.ensure_future(self._read())
        return self._next

    async def get(self, timeout: float = 5.0) -> Delivery:
        task = self._pending()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            raise AssertionError(f"no delivery within {timeout} s")
        self._next = None
        return task.result()

    async def take(self, count: int) -> list[Delivery]:
        return [await self.get() for _ in range(count)]

    async def assert_idle(self) -> None:
        task = self._pending()
        await self._quiet()
        if task.done():
            self._next = None
            delivery = task.result()
            raise AssertionError(f"unexpected delivery of {delivery.envelope.id}")

    async def close(self) -> None:
        await self.consumer.close()
        task, self._next = self._next, None
        if task is None:
            return
        await asyncio.wait({task}, timeout=1.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await task


@pytest.fixture
async def open_inbox(broker_case: BrokerCase) -> AsyncIterator[Callable[..., Inbox]]:
    """``open_inbox(prefetch=..., shards=...)`` consumes the case's route (all shards, or those
    given); every inbox is closed at teardown."""
    opened: list[Inbox] = []

    def open_(prefetch: int = 100, shards: list[int] | None = None) -> Inbox:
        consumer = broker_case.broker.consume(broker_case.route, prefetch=prefetch, shards=shards)
        inbox = Inbox(consumer, broker_case.quiet)
        opened.append(inbox)
        return inbox

    yield open_
    for inbox in reversed(opened):
        await inbox.close()


# -- store --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _memory_store() -> AsyncIterator[Store]:
    store = MemoryStore()
    try:
        yield store
    finally:
        await store.close()


STORES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Store]]] = {
    "memory": _memory_store,
    "redis": redis_store,
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    async with STORES[request.param]() as implementation:
        yield implementation
