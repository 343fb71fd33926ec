"""The store being away never makes a message poison: the runner keeps the delivery and retries
it in place (no nack, so no redelivery count grows and nothing is dead-lettered) until the store
answers, or until the consumer closes, which returns it to the broker like any unacked delivery.

The broker is the real in-memory one; the store is the in-memory store behind a fake that raises
our own ``StoreUnavailable`` on cue, as the Redis store does when Redis is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from actors.job import JobActor
from actors.ports.broker import Consumer, Delivery
from actors.ports.store import Scheduled
from actors.runtime import KeyedRunner
from engine import job as j
from engine import routes
from engine.errors import StoreUnavailable
from engine.history import HistoryEvent
from engine.job import JobState
from engine.messages import Start, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.actors.test_job_actor import JOB, create_job
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from transport.memory import MemoryBroker, MemoryStore

# Fixture of tests/actors/conftest.py: ``eventually(condition, what)`` waits until an async
# condition holds.
Eventually = Any


class StoreAway(MemoryStore):
    """The in-memory store, away for the next ``loads`` job loads and ``commits`` job commits; the
    last failing commit is written first (the reply lost, as when Redis dies after a write)."""

    def __init__(self, *, loads: int = 0, commits: int = 0) -> None:
        super().__init__()
        self.loads, self.commits = loads, commits
        self.refused = 0

    def back(self) -> None:
        self.loads = self.commits = 0

    async def load_job(self, job_id: str) -> JobState | None:
        if self.loads > 0:
            self.loads -= 1
            self._refuse()
        return await super().load_job(job_id)

    async def commit_job(
        self,
        state: JobState,
        expected_version: int,
        *,
        schedule: Sequence[Scheduled] = (),
        unschedule: Sequence[str] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        if self.commits > 1:
            self.commits -= 1
            self._refuse()
        await super().commit_job(state, expected_version, schedule=schedule, unschedule=unschedule, history=history)
        if self.commits == 1:
            self.commits -= 1
            self._refuse()

    def _refuse(self) -> None:
        self.refused += 1
        raise StoreUnavailable("Redis is unavailable: ConnectionError: Connection refused")


class Recorded:
    """A consumer as it is, noting each delivery (id, delivery count) and how it was settled."""

    def __init__(self, consumer: Consumer, seen: list[tuple[str, int]], settled: list[str]) -> None:
        self._consumer, self.seen, self.settled = consumer, seen, settled

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        async for delivery in self._consumer:
            self.seen.append((delivery.envelope.id, delivery.delivery_count))
            yield Noted(delivery, self.settled)

    async def cancel(self) -> None:
        await self._consumer.cancel()

    async def close(self) -> None:
        await self._consumer.close()


class Noted:
    """A delivery as it is, noting ``ack <id>`` or ``nack <id>`` when it is settled."""

    def __init__(self, delivery: Delivery, settled: list[str]) -> None:
        self._delivery, self._settled = delivery, settled
        self.envelope, self.redelivered = delivery.envelope, delivery.redelivered
        self.delivery_count = delivery.delivery_count

    async def ack(self) -> None:
        self._settled.append(f"ack {self.envelope.id}")
        await self._delivery.ack()

    async def nack(self, requeue: bool = True) -> None:
        self._settled.append(f"nack {self.envelope.id}")
        await self._delivery.nack(requeue)


@asynccontextmanager
async def job_runner(
    store: MemoryStore, broker: MemoryBroker, clock: FakeClock, seen: list[tuple[str, int]], settled: list[str]
) -> AsyncIterator[None]:
    """A job actor on the jobs route, which dead-letters a poison message at its second failure."""
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    actor = JobActor(registry, store, broker, StepPolicy(), clock, cached_jobs=0)
    runner = KeyedRunner("jobs", actor.handle, max_failures=2, sleep=clock.sleep)
    consumer = broker.consume(routes.JOBS, prefetch=10)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(runner.run(Recorded(consumer, seen, settled)))
        try:
            yield
        finally:
            await consumer.close()


async def start_job(store: MemoryStore, broker: MemoryBroker, clock: FakeClock) -> None:
    await create_job(store, tiny_blueprint(), clock)
    await broker.publish(routes.JOBS, envelope(JOB, Start(), clock(), id="m-start"))


async def test_a_store_outage_is_retried_in_place_applied_once_and_never_dead_lettered(
    clock: FakeClock, eventually: Eventually
) -> None:
    store, broker = StoreAway(loads=3, commits=4), MemoryBroker(shards=4)
    seen: list[tuple[str, int]] = []
    settled: list[str] = []
    await start_job(store, broker, clock)

    async with job_runner(store, broker, clock, seen, settled):
        await eventually(lambda: _has(settled, "ack m-start"), "the start to be acked")

    state = await _stored(store)
    assert store.refused == 3 + 4  # far more failures than max_failures=2, none of them counted
    assert state.version == 2  # created, then one commit: the write whose reply was lost
    history = [(event.event, event.state) for event in await store.load_history(JOB)]
    assert history == [("job_started", "start"), ("state_entered", "end"), ("job_ended", "end")]  # each once
    assert seen == [("m-start", 1)]  # delivered once: never redelivered
    assert settled == ["ack m-start"]  # never nacked
    assert broker.dead_letters(routes.JOBS) == []
    assert broker.pending(routes.JOBS) == []


async def test_a_consumer_closing_during_an_outage_returns_the_delivery_to_the_broker(
    clock: FakeClock, eventually: Eventually
) -> None:
    store, broker = StoreAway(loads=1_000_000), MemoryBroker(shards=4)
    seen: list[tuple[str, int]] = []
    settled: list[str] = []
    await start_job(store, broker, clock)

    async with job_runner(store, broker, clock, seen, settled):
        await eventually(lambda: _at_least(store, 3), "the store to refuse a few times")
    # The runner returned although the store is still away: the delivery went back unsettled.
    assert [e.id for e in broker.pending(routes.JOBS)] == ["m-start"]
    assert broker.dead_letters(routes.JOBS) == []

    assert settled == []  # neither acked nor nacked: the close returned it

    store.back()
    async with job_runner(store, broker, clock, seen, settled):
        await eventually(lambda: _has(settled, "ack m-start"), "the start to be acked once the store is back")

    assert seen == [("m-start", 1), ("m-start", 2)]  # one return to the broker, from the close
    assert await _status_is(store, j.FINISHED)
    assert broker.dead_letters(routes.JOBS) == []
    assert (await _stored(store)).version == 2


async def _has(settled: list[str], outcome: str) -> bool:
    return outcome in settled


async def _at_least(store: StoreAway, refusals: int) -> bool:
    return store.refused >= refusals


async def _stored(store: MemoryStore) -> JobState:
    """The job as stored, read past the fake's outage."""
    state = await MemoryStore.load_job(store, JOB)
    assert state is not None
    return state


async def _status_is(store: MemoryStore, status: str) -> bool:
    return (await _stored(store)).status == status
