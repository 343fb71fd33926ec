"""Frames on RabbitMQ (ADR 0013): envelopes that queue up behind a publish leave as one AMQP
message; a frame's envelopes are delivered one by one and the message is settled once.

Consumer-side tests publish their frames raw (a second connection), so what a frame holds is
known exactly; publisher-side tests read the broker's counters and what the consumer receives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from engine.errors import BrokerUnavailable
from engine.messages import Envelope, Start, encode, envelope
from tests.conformance.conftest import Inbox
from tests.conformance.rabbitmq_case import quiet, rabbit_broker
from tests.transport.test_rabbitmq import depth, rabbitmq_proxy, raw_channel, through
from transport.frames import ENVELOPE_CONTENT_TYPE, FRAME_CONTENT_TYPE, MAX_FRAME_ENVELOPES, encode_frame
from transport.names import routing_key
from transport.rabbitmq import RabbitBroker
from transport.sharding import shard_of

ROUTE = "framed"
SHARDS = 4


def msg(key: str, n: int = 0) -> Envelope:
    return envelope(key, Start(), 0.0, id=f"{key}#{n}")


@pytest.fixture
async def broker() -> AsyncIterator[RabbitBroker]:
    async with rabbit_broker(shards=SHARDS) as broker:
        yield broker


def open_inbox(broker: RabbitBroker, inboxes: list[Inbox], prefetch: int = 100) -> Inbox:
    inbox = Inbox(broker.consume(ROUTE, prefetch=prefetch), quiet)
    inboxes.append(inbox)
    return inbox


async def publish_raw(broker: RabbitBroker, body: bytes, content_type: str, shard: int = 0) -> None:
    """Publish ``body`` straight to a shard queue (confirmed), declaring the route first."""
    await broker._route(ROUTE)
    async with raw_channel() as channel:
        exchange = await channel.get_exchange(broker.names(ROUTE).exchange, ensure=True)
        message = aio_pika.Message(body, content_type=content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, routing_key=routing_key(shard))


async def publish_frame(broker: RabbitBroker, envelopes: list[Envelope]) -> None:
    await publish_raw(broker, encode_frame([encode(env) for env in envelopes]), FRAME_CONTENT_TYPE)


def same_shard_keys(count: int) -> list[str]:
    return [k for n in range(10_000) if shard_of(k := f"job-{n}", SHARDS) == 0][:count]


async def test_concurrent_publishes_to_one_shard_leave_as_fewer_frames(
    broker: RabbitBroker, inboxes: list[Inbox]
) -> None:
    warm_up, *keys = same_shard_keys(101)
    await broker.publish(ROUTE, msg(warm_up))  # declares the route; one frame of one
    sent = [msg(key) for key in keys]
    confirmed_before_return: list[bool] = []

    async def send(env: Envelope, position: int) -> None:
        await broker.publish(ROUTE, env)
        # its frame was counted (after the confirm) before this await returned
        confirmed_before_return.append(broker.counts.envelopes_published >= position + 2)

    await asyncio.gather(*(send(env, n) for n, env in enumerate(sent)))

    assert all(confirmed_before_return) and len(confirmed_before_return) == 100
    assert broker.counts.envelopes_published == 101
    assert broker.counts.frames_published < 51  # they queued up behind confirms
    async with raw_channel() as channel:
        assert await depth(channel, broker.names(ROUTE).shard_queues[0]) == broker.counts.frames_published
    inbox = open_inbox(broker, inboxes, prefetch=101)
    received = [(await inbox.get()).envelope.id for _ in range(101)]
    assert received == [f"{warm_up}#0", *(env.id for env in sent)]  # publish order, across frames
    assert broker.counts.frames_consumed == broker.counts.frames_published


async def test_per_key_order_is_kept_under_batching(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    keys = [f"job-{n}" for n in range(40)]

    async def sender(key: str) -> None:
        for n in range(10):
            await broker.publish(ROUTE, msg(key, n))

    await asyncio.gather(*(sender(key) for key in keys))
    assert broker.counts.frames_published < broker.counts.envelopes_published == 400
    inbox = open_inbox(broker, inboxes, prefetch=37)
    seen: dict[str, list[str]] = {key: [] for key in keys}
    for _ in range(400):
        delivery = await inbox.get()
        seen[delivery.envelope.key].append(delivery.envelope.id)
        await delivery.ack()

    assert seen == {key: [f"{key}#{n}" for n in range(10)] for key in keys}
    await inbox.assert_idle()


async def test_a_frame_never_exceeds_its_envelope_cap(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    await broker.publish(ROUTE, msg("warm-up"))
    await asyncio.gather(*(broker.publish(ROUTE, msg("k", n)) for n in range(3 * MAX_FRAME_ENVELOPES)))
    inbox = open_inbox(broker, inboxes, prefetch=500)
    received = [(await inbox.get()).envelope.id for _ in range(1 + 3 * MAX_FRAME_ENVELOPES)]

    assert received[1:] == [f"k#{n}" for n in range(3 * MAX_FRAME_ENVELOPES)]
    assert broker.counts.frames_consumed >= 1 + 3


async def test_a_poison_envelope_of_a_frame_is_dead_lettered_alone(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    frame = [msg("a"), msg("b"), msg("c")]
    await publish_frame(broker, frame)
    inbox = open_inbox(broker, inboxes)

    first, middle, last = await inbox.take(3)
    await first.ack()
    await middle.nack(requeue=False)
    await last.ack()
    await quiet()

    assert [d.envelope for d in (first, middle, last)] == frame
    assert await broker.dead_letters(ROUTE) == [msg("b")]
    await inbox.close()
    await open_inbox(broker, inboxes).assert_idle()  # the frame was acked: nothing comes back
    async with raw_channel() as channel:
        assert await depth(channel, broker.names(ROUTE).shard_queues[0]) == 0


async def test_a_frame_with_one_requeue_is_redelivered_whole(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    frame = [msg("a"), msg("b"), msg("c")]
    await publish_frame(broker, frame)
    inbox = open_inbox(broker, inboxes)

    first, middle, last = await inbox.take(3)
    await first.ack()
    await middle.nack(requeue=True)
    await last.ack()
    again = await inbox.take(3)

    assert [d.envelope for d in again] == frame
    assert [(d.redelivered, d.delivery_count) for d in again] == [(True, 2)] * 3
    for delivery in again:
        await delivery.ack()
    await inbox.assert_idle()


async def test_a_consumer_closed_with_a_half_settled_frame_gives_the_whole_frame_back(
    broker: RabbitBroker, inboxes: list[Inbox]
) -> None:
    frame = [msg("a"), msg("b"), msg("c")]
    await publish_frame(broker, frame)
    inbox = open_inbox(broker, inboxes)
    first, _, _ = await inbox.take(3)
    await first.ack()

    await inbox.close()
    again = await open_inbox(broker, inboxes).take(3)

    assert [d.envelope for d in again] == frame
    assert all(d.redelivered for d in again)


async def test_a_frame_hands_out_no_more_envelopes_than_prefetch(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    frame = [msg("k", n) for n in range(5)]
    await publish_frame(broker, frame)
    inbox = open_inbox(broker, inboxes, prefetch=2)

    first, second = await inbox.take(2)
    await inbox.assert_idle()
    await first.ack()
    third = await inbox.get()

    assert [d.envelope.id for d in (first, second, third)] == ["k#0", "k#1", "k#2"]


async def test_a_single_envelope_message_of_an_earlier_version_is_consumed(
    broker: RabbitBroker, inboxes: list[Inbox]
) -> None:
    legacy = msg("old")
    await publish_raw(broker, encode(legacy), ENVELOPE_CONTENT_TYPE, shard=shard_of("old", SHARDS))
    inbox = open_inbox(broker, inboxes)

    delivery = await inbox.get()

    assert delivery.envelope == legacy
    await delivery.ack()
    await inbox.assert_idle()


async def test_a_frame_dead_lettered_whole_reads_back_envelope_by_envelope(broker: RabbitBroker) -> None:
    """A frame past the quorum delivery limit is dead-lettered by RabbitMQ as it is."""
    names = broker.names(ROUTE)
    await broker._route(ROUTE)
    async with raw_channel() as channel:
        exchange = await channel.get_exchange(names.dead_letter_exchange, ensure=True)
        body = encode_frame([encode(msg("a")), encode(msg("b"))])
        await exchange.publish(aio_pika.Message(body, content_type=FRAME_CONTENT_TYPE), routing_key="")

    assert await broker.dead_letters(ROUTE) == [msg("a"), msg("b")]


async def test_every_sender_of_an_unroutable_frame_hears_the_refusal(broker: RabbitBroker) -> None:
    key, *others = same_shard_keys(6)
    await broker.publish(ROUTE, msg(key))
    async with raw_channel() as channel:
        await channel.queue_delete(broker.names(ROUTE).shard_queues[0])

    outcomes = await asyncio.gather(*(broker.publish(ROUTE, msg(k)) for k in others), return_exceptions=True)

    assert all(isinstance(outcome, aio_pika.exceptions.DeliveryError) for outcome in outcomes), outcomes


async def test_a_lost_connection_returns_a_half_acked_frame_whole(inboxes: list[Inbox]) -> None:
    proxy = rabbitmq_proxy()
    await proxy.start()
    try:
        async with rabbit_broker(shards=SHARDS, url=through(proxy)) as broker:
            frame = [msg("a"), msg("b"), msg("c")]
            await publish_frame(broker, frame)
            inbox = open_inbox(broker, inboxes)
            first, second, _ = await inbox.take(3)
            await first.ack()

            proxy.cut()
            again = await inbox.take(3)  # the robust connection restored the consumer
            with pytest.raises(BrokerUnavailable):
                await second.ack()  # its channel is gone: it must not settle the frame now held again
            for delivery in again:
                await delivery.ack()
            await inbox.assert_idle()

        assert [d.envelope for d in again] == frame
        assert all(d.redelivered for d in again)
    finally:
        await proxy.close()


async def test_publishes_queued_in_a_lane_survive_a_lost_connection(inboxes: list[Inbox]) -> None:
    proxy = rabbitmq_proxy()
    await proxy.start()
    try:
        async with rabbit_broker(shards=SHARDS, url=through(proxy)) as broker:
            keys = same_shard_keys(40)
            await broker.publish(ROUTE, msg(keys[0], -1))
            sending = [asyncio.ensure_future(broker.publish(ROUTE, msg(key))) for key in keys]
            await asyncio.sleep(0)  # the first is in flight, the others queue up behind it
            proxy.cut()
            await asyncio.gather(*sending)  # retried on the restored channel: every one confirmed

            inbox = open_inbox(broker, inboxes, prefetch=200)
            received: set[str] = set()
            while not {f"{key}#0" for key in keys} <= received:
                delivery = await inbox.get()
                received.add(delivery.envelope.id)
                await delivery.ack()
    finally:
        await proxy.close()
