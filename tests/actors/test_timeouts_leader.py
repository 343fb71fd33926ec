"""Only the leader's timeouts actor fires deadlines; when it dies another takes over."""

from __future__ import annotations

from actors.ports.store import Scheduled
from actors.timeouts import TimeoutsActor
from engine.messages import Start, envelope
from tests.support.clock import FakeClock
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_locks import MemoryLocks


async def schedule(store: MemoryStore, clock: FakeClock, n: int) -> None:
    env = envelope(f"job-{n}", Start(), clock(), id=f"deadline-{n}")
    await store.schedule(Scheduled("jobs", env, clock() + 1))


async def test_only_the_leader_fires_and_a_successor_takes_over_after_the_lease(clock: FakeClock) -> None:
    store, broker, locks = MemoryStore(), MemoryBroker(), MemoryLocks(clock)
    first = TimeoutsActor(store, broker, clock, locks=locks, holder="node-a", lease=3.0)
    second = TimeoutsActor(store, broker, clock, locks=locks, holder="node-b", lease=3.0)

    assert await first.lead()
    assert not await second.lead()

    await schedule(store, clock, 1)
    clock.advance(1.5)
    assert await first.lead()  # renews
    assert await first.fire_due() == 1
    assert not await second.lead()

    # node-a dies: it stops renewing. node-b keeps trying and wins once the lease lapsed.
    clock.advance(1.1)
    assert not await second.lead()
    clock.advance(3.0)
    assert await second.lead()
    assert second.leading

    await schedule(store, clock, 2)
    clock.advance(1.5)
    assert await second.fire_due() == 1
    # The ex-leader, waking up, finds out at its next check and stops.
    assert not await first.lead()
    assert sorted(e.id for e in broker.pending("jobs")) == ["deadline-1", "deadline-2"]  # each fired once
