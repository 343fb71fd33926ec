"""Webhook deliveries: queued once, claimed with a lease, settled, dead-listed, redelivered.

The store contract (actors/ports/store/webhooks.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

import msgspec

from actors.ports.store import Store
from engine.defaults import WEBHOOK_DEAD_LIMIT
from tests.conformance.store_samples import delivery


async def test_a_delivery_is_queued_once_per_id(store: Store) -> None:
    assert await store.add_webhook(delivery("d1", url="https://first.example/"))
    assert not await store.add_webhook(delivery("d1", url="https://second.example/"))

    [claimed] = await store.claim_webhooks(now=10.0, limit=10, until=40.0)

    assert claimed.url == "https://first.example/"


async def test_claim_takes_due_deliveries_earliest_first_up_to_the_limit(store: Store) -> None:
    for delivery_id, at in [("c", 30.0), ("a", 10.0), ("later", 50.0), ("b", 20.0)]:
        await store.add_webhook(delivery(delivery_id, next_at=at))

    claimed = await store.claim_webhooks(now=30.0, limit=2, until=100.0)

    assert [d.id for d in claimed] == ["a", "b"]
    assert {d.next_at for d in claimed} == {100.0}
    assert [d.id for d in await store.claim_webhooks(now=30.0, limit=10, until=100.0)] == ["c"]


async def test_a_claimed_delivery_is_skipped_until_its_lease_ends(store: Store) -> None:
    await store.add_webhook(delivery("d1", next_at=10.0))
    await store.claim_webhooks(now=10.0, limit=10, until=40.0)

    assert await store.claim_webhooks(now=39.9, limit=10, until=80.0) == []
    assert await store.next_webhook_due() == 40.0
    [again] = await store.claim_webhooks(now=40.0, limit=10, until=80.0)  # the claimer died: lease lapsed
    assert again.id == "d1"


async def test_a_sent_delivery_is_gone_and_its_id_may_be_queued_again(store: Store) -> None:
    await store.add_webhook(delivery("d1"))
    await store.claim_webhooks(now=10.0, limit=10, until=40.0)

    await store.webhook_sent("d1")

    assert await store.claim_webhooks(now=1e9, limit=10, until=2e9) == []
    assert await store.next_webhook_due() is None
    assert await store.add_webhook(delivery("d1"))


async def test_retry_stores_the_attempt_and_the_new_due_time(store: Store) -> None:
    await store.add_webhook(delivery("d1", next_at=10.0))
    [claimed] = await store.claim_webhooks(now=10.0, limit=10, until=40.0)
    failed = msgspec.structs.replace(claimed, attempts=1, last_error="answered 503", last_attempt_at=10.5, next_at=12.0)

    assert await store.retry_webhook(failed)

    assert await store.claim_webhooks(now=11.9, limit=10, until=50.0) == []
    [again] = await store.claim_webhooks(now=12.0, limit=10, until=50.0)
    assert (again.attempts, again.last_error, again.last_attempt_at) == (1, "answered 503", 10.5)


async def test_a_late_claimer_cannot_bring_back_a_sent_delivery(store: Store) -> None:
    """Two claimers held the delivery (the first one's lease lapsed); the one that sent it wins."""
    await store.add_webhook(delivery("d1", next_at=10.0))
    [first] = await store.claim_webhooks(now=10.0, limit=10, until=40.0)
    [second] = await store.claim_webhooks(now=40.0, limit=10, until=70.0)
    await store.webhook_sent(second.id)

    assert not await store.retry_webhook(msgspec.structs.replace(first, attempts=1, next_at=45.0))
    assert not await store.bury_webhook(msgspec.structs.replace(first, dead_at=45.0))

    assert await store.claim_webhooks(now=1e9, limit=10, until=2e9) == []
    assert await store.dead_webhooks("c", 10) == []


async def test_a_buried_delivery_is_listed_for_its_client_only_and_never_claimed(store: Store) -> None:
    await store.add_webhook(delivery("d1", next_at=10.0))
    await store.add_webhook(delivery("d2", next_at=10.0))
    await store.add_webhook(delivery("other", next_at=10.0, client_id="someone-else"))
    claimed = {d.id: d for d in await store.claim_webhooks(now=10.0, limit=10, until=40.0)}

    for delivery_id, dead_at in [("d1", 20.0), ("d2", 30.0), ("other", 25.0)]:
        assert await store.bury_webhook(msgspec.structs.replace(claimed[delivery_id], dead_at=dead_at, attempts=7))

    assert [(d.id, d.dead_at, d.attempts) for d in await store.dead_webhooks("c", 10)] == [
        ("d2", 30.0, 7),
        ("d1", 20.0, 7),
    ]
    assert [d.id for d in await store.dead_webhooks("c", 1)] == ["d2"]
    assert [d.id for d in await store.dead_webhooks("someone-else", 10)] == ["other"]
    assert await store.claim_webhooks(now=1e9, limit=10, until=2e9) == []
    assert not await store.add_webhook(delivery("d1"))  # dead, not gone: the same event is not queued again
    await store.webhook_sent("d1")  # a late "sent" leaves a dead delivery dead
    assert len(await store.dead_webhooks("c", 10)) == 2


async def test_a_redelivered_delivery_is_due_at_once_with_a_fresh_window(store: Store) -> None:
    await store.add_webhook(delivery("d1", next_at=10.0))
    [claimed] = await store.claim_webhooks(now=10.0, limit=10, until=40.0)
    await store.bury_webhook(msgspec.structs.replace(claimed, dead_at=20.0, attempts=9, last_error="refused"))

    assert await store.redeliver_webhook("someone-else", "d1", now=500.0, give_up_at=900.0) is None
    again = await store.redeliver_webhook("c", "d1", now=500.0, give_up_at=900.0)

    assert again is not None
    assert (again.id, again.next_at, again.give_up_at, again.attempts, again.dead_at) == ("d1", 500.0, 900.0, 0, None)
    assert again.last_error == "refused"  # what happened last stays visible until the next attempt
    assert await store.dead_webhooks("c", 10) == []
    assert await store.redeliver_webhook("c", "d1", now=501.0, give_up_at=900.0) is None
    [claimed_again] = await store.claim_webhooks(now=500.0, limit=10, until=540.0)
    assert (claimed_again.id, claimed_again.body) == ("d1", claimed.body)


async def test_next_webhook_due_is_the_earliest_pending(store: Store) -> None:
    assert await store.next_webhook_due() is None
    await store.add_webhook(delivery("late", next_at=50.0))
    await store.add_webhook(delivery("early", next_at=20.0))

    assert await store.next_webhook_due() == 20.0


async def test_a_client_keeps_its_newest_dead_deliveries_only(store: Store) -> None:
    count = WEBHOOK_DEAD_LIMIT + 2
    for i in range(count):
        await store.add_webhook(delivery(f"d{i:05d}", next_at=10.0))
    claimed = await store.claim_webhooks(now=10.0, limit=count, until=40.0)
    for i, d in enumerate(claimed):
        await store.bury_webhook(msgspec.structs.replace(d, dead_at=100.0 + i))

    dead = await store.dead_webhooks("c", count)

    assert len(dead) == WEBHOOK_DEAD_LIMIT
    assert dead[0].id == f"d{count - 1:05d}"
    assert dead[-1].id == "d00002"  # the two oldest were dropped
    assert await store.redeliver_webhook("c", "d00000", now=500.0, give_up_at=900.0) is None
