"""Publish a step's effects: immediate ones to the broker, deferred ones to the deadline set."""

from __future__ import annotations

from collections.abc import Iterable

from engine.job import Outgoing
from transport.broker import Broker
from transport.store import Scheduled, Store


async def publish_all(broker: Broker, store: Store, effects: Iterable[Outgoing]) -> None:
    """Idempotent: envelope ids are fixed, so publishing the same effects twice is harmless
    (receivers de-duplicate by id; the deadline set is keyed by id)."""
    for effect in effects:
        if effect.at is None:
            await broker.publish(effect.route, effect.envelope)
        else:
            await store.schedule(Scheduled(effect.route, effect.envelope, effect.at))
