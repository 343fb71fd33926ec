"""Cancellation notices.

The store contract (actors/ports/store/cancels.py), checked on every implementation in ``STORES``.
"""

from __future__ import annotations

import asyncio

from actors.ports.notices import Subscription
from actors.ports.store import Store
from engine.messages import CancelNotice


async def next_notice(notices: Subscription[CancelNotice]) -> CancelNotice:
    """The next notice (on Redis it comes back through pub/sub); a hang guard, not a wait."""
    async with asyncio.timeout(5.0):
        return await anext(notices)


async def test_announced_cancellations_reach_every_open_subscription_in_order(store: Store) -> None:
    first_batch = [CancelNotice("job-1", "t1", "w1"), CancelNotice("job-2", "t2", "w2")]
    later = CancelNotice("job-3", "t3", "w1")
    with store.cancel_notices() as one, store.cancel_notices() as other:
        await store.announce_cancels(first_batch)
        await store.announce_cancels([])  # nothing to say: nothing sent
        await store.announce_cancels([later])

        for notices in (one, other):
            assert [await next_notice(notices) for _ in range(3)] == [*first_batch, later]


async def test_a_closed_subscription_ends_and_the_others_go_on(store: Store) -> None:
    notice = CancelNotice("job-1", "t1", "w1")
    with store.cancel_notices() as staying:
        leaving = store.cancel_notices()
        leaving.close()
        leaving.close()  # idempotent

        await store.announce_cancels([notice])

        assert await next_notice(staying) == notice
        assert [n async for n in leaving] == []


async def test_closing_the_store_ends_its_subscriptions(store: Store) -> None:
    notices = store.cancel_notices()
    await store.close()
    assert [n async for n in notices] == []
