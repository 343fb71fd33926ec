"""The broker contract (actors/ports/broker.py), checked on every implementation in ``BROKERS``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.messages import Envelope, Start, TaskOffer, envelope
from transport.sharding import shard_of

# ``open_inbox`` yields conftest.Inbox objects (get / take / assert_idle / close).
OpenInbox = Callable[..., Any]


def msg(key: str, n: int = 0) -> Envelope:
    return envelope(key, Start(), 0.0, id=f"{key}#{n}")


async def test_a_published_envelope_is_delivered_intact(broker_case: Any, open_inbox: OpenInbox) -> None:
    offer = TaskOffer(job_id="j1", task_id="t1", type="echo", params={"x": [1, 2], "y": {"z": None}}, priority=2.0)
    sent = envelope("echo", offer, 12.5, id="m-1")
    await broker_case.broker.publish(broker_case.route, sent)

    delivery = await open_inbox().get()

    assert delivery.envelope == sent
    assert delivery.redelivered is False
    assert delivery.delivery_count == 1
    await delivery.ack()


async def test_per_key_order_is_kept_across_many_keys_and_shards(broker_case: Any, open_inbox: OpenInbox) -> None:
    keys = [f"job-{i}" for i in range(24)]
    assert len({shard_of(k, broker_case.shards) for k in keys}) == broker_case.shards
    for n in range(6):
        for key in keys:
            await broker_case.broker.publish(broker_case.route, msg(key, n))
    inbox = open_inbox(prefetch=7)

    seen: dict[str, list[str]] = {key: [] for key in keys}
    for _ in range(len(keys) * 6):
        delivery = await inbox.get()
        seen[delivery.envelope.key].append(delivery.envelope.id)
        await delivery.ack()

    assert seen == {key: [f"{key}#{n}" for n in range(6)] for key in keys}
    await inbox.assert_idle()


async def test_no_more_than_prefetch_deliveries_are_unacked(broker_case: Any, open_inbox: OpenInbox) -> None:
    for n in range(5):
        await broker_case.broker.publish(broker_case.route, msg("k", n))
    inbox = open_inbox(prefetch=2)

    first, second = await inbox.take(2)
    await inbox.assert_idle()
    await first.ack()
    third = await inbox.get()

    assert [d.envelope.id for d in (first, second, third)] == ["k#0", "k#1", "k#2"]
    await inbox.assert_idle()


async def test_nack_with_requeue_redelivers_marked_redelivered(broker_case: Any, open_inbox: OpenInbox) -> None:
    await broker_case.broker.publish(broker_case.route, msg("k"))
    inbox = open_inbox(prefetch=1)

    first = await inbox.get()
    await first.nack(requeue=True)
    second = await inbox.get()
    await second.nack(requeue=True)
    third = await inbox.get()

    assert [d.envelope.id for d in (first, second, third)] == ["k#0"] * 3
    assert [d.redelivered for d in (first, second, third)] == [False, True, True]
    assert [d.delivery_count for d in (first, second, third)] == [1, 2, 3]
    await third.ack()


async def test_a_requeued_delivery_comes_back_before_later_messages_of_its_key(
    broker_case: Any, open_inbox: OpenInbox
) -> None:
    for n in range(2):
        await broker_case.broker.publish(broker_case.route, msg("k", n))
    inbox = open_inbox(prefetch=1)

    first = await inbox.get()
    assert first.envelope.id == "k#0"
    await first.nack(requeue=True)
    again = await inbox.get()

    assert again.envelope.id == "k#0"
    assert again.redelivered
    await again.ack()
    assert (await inbox.get()).envelope.id == "k#1"


async def test_unacked_deliveries_return_when_the_consumer_closes(broker_case: Any, open_inbox: OpenInbox) -> None:
    for n in range(2):
        await broker_case.broker.publish(broker_case.route, msg("k", n))
    first = open_inbox(prefetch=10)
    await first.take(2)

    await first.close()
    again = await open_inbox(prefetch=10).take(2)

    assert [d.envelope.id for d in again] == ["k#0", "k#1"]
    assert [d.redelivered for d in again] == [True, True]
    assert [d.delivery_count for d in again] == [2, 2]


async def test_consumer_close_is_idempotent(broker_case: Any, open_inbox: OpenInbox) -> None:
    """A second close is no error and changes nothing: the closed consumer delivers nothing more,
    and what is published after it goes to the next consumer."""
    inbox = open_inbox()

    await inbox.consumer.close()
    await inbox.consumer.close()

    assert [d async for d in inbox.consumer] == []
    await broker_case.broker.publish(broker_case.route, msg("k", 0))
    delivery = await open_inbox().get()
    assert (delivery.envelope.id, delivery.redelivered) == (msg("k", 0).id, False)
    await delivery.ack()


async def test_ack_removes_the_message_for_good(broker_case: Any, open_inbox: OpenInbox) -> None:
    await broker_case.broker.publish(broker_case.route, msg("k", 0))
    first = open_inbox()
    await (await first.get()).ack()
    await first.close()

    await broker_case.broker.publish(broker_case.route, msg("k", 1))
    second = open_inbox()

    assert (await second.get()).envelope.id == "k#1"
    await second.assert_idle()


async def test_nack_without_requeue_dead_letters_the_message(broker_case: Any, open_inbox: OpenInbox) -> None:
    poison = msg("k", 0)
    await broker_case.broker.publish(broker_case.route, poison)
    inbox = open_inbox()

    await (await inbox.get()).nack(requeue=False)
    await broker_case.broker.publish(broker_case.route, msg("k", 1))

    assert (await inbox.get()).envelope.id == "k#1"  # the poison message is not redelivered
    assert await broker_case.dead_letters(broker_case.route) == [poison]


async def test_a_second_consumer_gets_nothing_while_the_first_is_open(broker_case: Any, open_inbox: OpenInbox) -> None:
    active, standby = open_inbox(), open_inbox()
    keys = [f"job-{i}" for i in range(8)]  # several shards
    for key in keys:
        await broker_case.broker.publish(broker_case.route, msg(key))

    received = await active.take(len(keys))

    assert sorted(d.envelope.key for d in received) == keys
    await standby.assert_idle()


async def test_the_second_consumer_takes_over_when_the_first_closes(broker_case: Any, open_inbox: OpenInbox) -> None:
    active, standby = open_inbox(), open_inbox()
    await broker_case.broker.publish(broker_case.route, msg("k", 0))
    unacked = await active.get()
    await standby.assert_idle()

    await active.close()
    await broker_case.broker.publish(broker_case.route, msg("k", 1))
    taken_over = await standby.take(2)

    assert unacked.envelope.id == "k#0"
    assert [d.envelope.id for d in taken_over] == ["k#0", "k#1"]
    assert [d.redelivered for d in taken_over] == [True, False]


def key_on_shard(shard: int, shards: int, tag: str) -> str:
    return next(k for n in range(10_000) if shard_of(k := f"{tag}-{n}", shards) == shard)


async def test_consumers_of_disjoint_shards_each_get_their_own(broker_case: Any, open_inbox: OpenInbox) -> None:
    first_key = key_on_shard(0, broker_case.shards, "first")
    second_key = key_on_shard(1, broker_case.shards, "second")
    first = open_inbox(shards=[0])
    second = open_inbox(shards=list(range(1, broker_case.shards)))
    await broker_case.broker.publish(broker_case.route, msg(first_key, 0))
    await broker_case.broker.publish(broker_case.route, msg(second_key, 0))

    assert (await first.get()).envelope.key == first_key
    assert (await second.get()).envelope.key == second_key
    await first.assert_idle()
    await second.assert_idle()


async def test_a_shard_passes_to_the_next_subscriber_when_its_consumer_closes(
    broker_case: Any, open_inbox: OpenInbox
) -> None:
    key = key_on_shard(0, broker_case.shards, "handover")
    owner = open_inbox(shards=[0])
    standby = open_inbox(shards=[0, 1])
    await broker_case.broker.publish(broker_case.route, msg(key, 0))
    assert (await owner.get()).envelope.id == f"{key}#0"
    await standby.assert_idle()

    await owner.close()  # unacked: back to the queue, for the standby
    again = await standby.get()
    assert again.envelope.id == f"{key}#0"
    assert again.redelivered
