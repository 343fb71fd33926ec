"""The keyed runner: one message at a time per key, keys concurrently, ack after the handler,
failures retried in place (infrastructure errors for as long as they last), poison messages
dead-lettered after ``max_failures``."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from actors.runtime import KeyedRunner
from engine.errors import StoreUnavailable, VersionConflict
from engine.messages import Envelope, Start, envelope
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from transport.memory import MemoryBroker

ROUTE = "jobs"

# Fixtures of tests/actors/conftest.py: ``clock`` (a FakeClock) and ``eventually(condition, what)``.


def msg(key: str, n: int) -> Envelope:
    return envelope(key, Start(), 0.0, id=f"{key}{n}")


@asynccontextmanager
async def running(broker: MemoryBroker, runner: KeyedRunner, prefetch: int = 10) -> AsyncIterator[None]:
    """Run ``runner`` on the route until the block ends, then close the consumer and wait."""
    consumer = broker.consume(ROUTE, prefetch=prefetch)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(runner.run(consumer))
        try:
            yield
        finally:
            await consumer.close()


async def quiet() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


class Gated:
    """A handler whose every message waits for the test to release it."""

    def __init__(self) -> None:
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.release: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.ended: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.log: list[str] = []

    async def __call__(self, env: Envelope) -> None:
        self.log.append(f"start {env.id}")
        self.started[env.id].set()
        await self.release[env.id].wait()
        self.log.append(f"end {env.id}")
        self.ended[env.id].set()


async def started(handler: Gated, message_id: str) -> None:
    await asyncio.wait_for(handler.started[message_id].wait(), 5)


async def test_one_key_runs_one_message_at_a_time_while_other_keys_run_concurrently() -> None:
    broker, handler = MemoryBroker(shards=4), Gated()
    for env in (msg("a", 1), msg("a", 2), msg("b", 1)):
        await broker.publish(ROUTE, env)

    async with running(broker, KeyedRunner("test", handler)):
        await started(handler, "a1")
        await started(handler, "b1")  # b runs while a1 is still in its handler
        await quiet()
        assert not handler.started["a2"].is_set()  # a2 waits for a1

        handler.release["a1"].set()
        await started(handler, "a2")
        handler.release["a2"].set()
        handler.release["b1"].set()
        await asyncio.wait_for(asyncio.gather(*(handler.ended[i].wait() for i in ("a1", "a2", "b1"))), 5)

    assert handler.log.index("end a1") < handler.log.index("start a2")
    assert broker.pending(ROUTE) == []  # every delivery was acked


async def test_a_poison_message_is_retried_in_place_then_dead_lettered_and_its_key_moves_on(
    clock: FakeClock, eventually: Eventually
) -> None:
    broker = MemoryBroker(shards=4)
    attempts: Counter[str] = Counter()
    handled: list[str] = []

    async def handler(env: Envelope) -> None:
        attempts[env.id] += 1
        if env.id == "a1":
            raise RuntimeError("poison")
        handled.append(env.id)

    for env in (msg("a", 1), msg("a", 2), msg("a", 3), msg("b", 1)):
        await broker.publish(ROUTE, env)

    async with running(broker, KeyedRunner("test", handler, max_failures=3, sleep=clock.sleep)):
        await eventually(lambda: _has(handled, "a2", "a3", "b1"), "a2, a3 and b1 to be handled")

    assert attempts["a1"] == 3
    assert [e.id for e in broker.dead_letters(ROUTE)] == ["a1"]
    assert [m for m in handled if m.startswith("a")] == ["a2", "a3"]  # never before a1 was settled
    assert attempts["a2"] == attempts["a3"] == 1
    assert broker.pending(ROUTE) == []


async def test_messages_queued_behind_a_poison_message_keep_their_own_failure_budget(
    clock: FakeClock, eventually: Eventually
) -> None:
    """a2 waited behind a1's retries; its own first failure must be retried, not dead-lettered."""
    broker = MemoryBroker(shards=4)
    attempts: Counter[str] = Counter()
    handled: list[str] = []

    async def handler(env: Envelope) -> None:
        attempts[env.id] += 1
        if env.id == "a1" or (env.id == "a2" and attempts["a2"] == 1):
            raise RuntimeError("failing")
        handled.append(env.id)

    for env in (msg("a", 1), msg("a", 2), msg("a", 3)):
        await broker.publish(ROUTE, env)

    async with running(broker, KeyedRunner("test", handler, max_failures=3, sleep=clock.sleep)):
        await eventually(lambda: _has(handled, "a3"), "a3 to be handled")

    assert [e.id for e in broker.dead_letters(ROUTE)] == ["a1"]
    assert handled == ["a2", "a3"]


async def test_a_version_conflict_is_retried_in_place_without_redelivery(
    clock: FakeClock, eventually: Eventually
) -> None:
    broker = MemoryBroker(shards=4)
    attempts: Counter[str] = Counter()

    async def handler(env: Envelope) -> None:
        attempts[env.id] += 1
        if attempts[env.id] < 3:
            raise VersionConflict("someone committed first")

    await broker.publish(ROUTE, msg("a", 1))
    await broker.publish(ROUTE, msg("a", 2))

    async with running(broker, KeyedRunner("test", handler, sleep=clock.sleep)):
        await eventually(lambda: _count_at_least(attempts, "a2", 3), "a2 to succeed")

    assert attempts == Counter({"a1": 3, "a2": 3})
    assert broker.pending(ROUTE) == []
    assert broker.dead_letters(ROUTE) == []


async def test_infrastructure_errors_are_retried_with_back_off_and_never_dead_letter(
    clock: FakeClock, eventually: Eventually
) -> None:
    broker = MemoryBroker(shards=4)
    attempts: Counter[str] = Counter()

    async def handler(env: Envelope) -> None:
        attempts[env.id] += 1
        if attempts[env.id] <= 8:
            raise StoreUnavailable("store unreachable")

    await broker.publish(ROUTE, msg("a", 1))

    runner = KeyedRunner("test", handler, max_failures=2, backoff=0.01, max_backoff=0.5, sleep=clock.sleep)
    async with running(broker, runner):
        await eventually(lambda: _count_at_least(attempts, "a1", 9), "a1 to succeed")

    assert broker.dead_letters(ROUTE) == []
    assert broker.pending(ROUTE) == []
    assert clock.slept[:3] == [0.01, 0.02, 0.04]
    assert max(clock.slept) == 0.5  # capped


async def _has(items: list[str], *wanted: str) -> bool:
    return all(w in items for w in wanted)


async def _count_at_least(counter: Counter[str], key: str, n: int) -> bool:
    return counter[key] >= n


async def _dead(broker: MemoryBroker) -> bool:
    return bool(broker.dead_letters(ROUTE))
