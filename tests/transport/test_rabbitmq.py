"""What only RabbitMQ does: topology, persistence, dead-letter queues, delivery limits, reconnection.

The broker contract itself is checked by tests/conformance on every broker. These tests read
RabbitMQ directly (a second connection, basic.get, a raw consumer) to see what the broker really
holds, and break the connection through a TCP proxy rather than mocking anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, FieldValue
from yarl import URL

from engine.errors import BrokerUnavailable
from engine.messages import Envelope, Start, decode, encode, envelope
from tests.conformance.conftest import Inbox
from tests.conformance.rabbitmq_case import connect, fresh_prefix, quiet, rabbit_broker
from tests.support.proxy import TcpProxy
from tests.support.servers import RABBITMQ_URL
from transport.names import routing_key
from transport.rabbitmq import CONTENT_TYPE, RabbitBroker
from transport.sharding import shard_of

ROUTE = "mailbox"
WAIT = 10.0  # seconds: the bound on every wait for a delivery


def msg(key: str, n: int = 0) -> Envelope:
    return envelope(key, Start(), 0.0, id=f"{key}#{n}")


def key_on_shard(shard: int, shards: int) -> str:
    return next(key for key in (f"job-{i}" for i in range(1000)) if shard_of(key, shards) == shard)


@contextlib.asynccontextmanager
async def raw_channel() -> AsyncIterator[AbstractChannel]:
    connection = await connect()
    try:
        yield await connection.channel()
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def watch(channel: AbstractChannel, queue_name: str) -> AsyncIterator[asyncio.Queue[AbstractIncomingMessage]]:
    """Consume ``queue_name`` raw (auto-ack) into an asyncio queue, for bounded waits."""
    received: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    queue = await channel.get_queue(queue_name, ensure=False)
    tag = await queue.consume(received.put, no_ack=True)
    try:
        yield received
    finally:
        await queue.cancel(tag)


def death_reason(message: AbstractIncomingMessage) -> object:
    """Why RabbitMQ dead-lettered ``message``: the newest entry of its ``x-death`` header."""
    deaths = message.headers["x-death"]
    assert isinstance(deaths, list) and isinstance(deaths[0], dict)
    return deaths[0]["reason"]


@pytest.fixture(params=["classic", "quorum"])
def queue_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def broker(queue_type: str) -> AsyncIterator[RabbitBroker]:
    async with rabbit_broker(queue_type=queue_type) as broker:
        yield broker


def open_inbox(broker: RabbitBroker, inboxes: list[Inbox], prefetch: int = 10) -> Inbox:
    inbox = Inbox(broker.consume(ROUTE, prefetch=prefetch), quiet)
    inboxes.append(inbox)
    return inbox


async def test_the_topology_is_one_exchange_and_n_single_active_consumer_queues(
    broker: RabbitBroker, queue_type: str
) -> None:
    first = msg(key_on_shard(0, 4))
    await broker.publish(ROUTE, first)  # a route is declared on first use
    names = broker.names(ROUTE)
    expected: dict[str, FieldValue] = {
        "x-queue-type": queue_type,
        "x-single-active-consumer": True,
        "x-dead-letter-exchange": names.dead_letter_exchange,
    }
    if queue_type == "quorum":
        expected |= {"x-delivery-limit": 20, "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}

    async with raw_channel() as channel:
        exchange = await channel.get_exchange(names.exchange, ensure=True)
        for shard, name in enumerate(names.shard_queues):
            await channel.declare_queue(name, durable=True, arguments=expected)  # equivalent: no error
            await exchange.publish(aio_pika.Message(encode(msg("probe", shard))), routing_key=routing_key(shard))
        held = []
        for name in names.shard_queues:
            count = await depth(channel, name)  # exact: every publish was confirmed
            held.append([decode(m.body).id for m in await read(channel, name, count)])
        await channel.get_exchange(names.dead_letter_exchange, ensure=True)
        await channel.declare_queue(names.dead_letter_queue, passive=True)

    assert held == [[first.id, "probe#0"], ["probe#1"], ["probe#2"], ["probe#3"]]
    async with raw_channel() as channel:
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
            await channel.declare_queue(
                names.shard_queues[0], durable=True, arguments={**expected, "x-single-active-consumer": False}
            )


async def depth(channel: AbstractChannel, name: str) -> int:
    """Messages ready in ``name`` now (aio-pika's queue objects cache their first declare-ok)."""
    declare_ok = await (await channel.get_underlay_channel()).queue_declare(name, passive=True)
    return declare_ok.message_count or 0


async def read(channel: AbstractChannel, name: str, count: int) -> list[AbstractIncomingMessage]:
    """Consume ``count`` messages of ``name`` (quorum queues with single active consumer refuse basic.get)."""
    async with watch(channel, name) as received:
        return [await asyncio.wait_for(received.get(), WAIT) for _ in range(count)]


async def test_a_confirmed_publish_is_persistent_and_already_queued(broker: RabbitBroker) -> None:
    sent = msg("job-1")
    await broker.publish(ROUTE, sent)

    shard_queue = broker.names(ROUTE).shard_queues[shard_of("job-1", 4)]
    async with raw_channel() as channel:
        assert await depth(channel, shard_queue) == 1  # no wait: the confirm means it is queued
        [message] = await read(channel, shard_queue, 1)

    assert decode(message.body) == sent
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (message.message_id, message.content_type) == (sent.id, CONTENT_TYPE)


async def test_an_unroutable_publish_raises(broker: RabbitBroker) -> None:
    await broker.publish(ROUTE, msg("job-1"))
    async with raw_channel() as channel:
        await channel.queue_delete(broker.names(ROUTE).shard_queues[shard_of("job-1", 4)])

    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await broker.publish(ROUTE, msg("job-1", 1))


async def test_an_undecodable_body_is_dead_lettered_and_consuming_goes_on(
    broker: RabbitBroker, inboxes: list[Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    key = key_on_shard(0, 4)
    await broker.publish(ROUTE, msg(key, 0))  # declares the route
    names = broker.names(ROUTE)
    async with raw_channel() as channel, watch(channel, names.dead_letter_queue) as dead:
        exchange = await channel.get_exchange(names.exchange, ensure=True)
        await exchange.publish(aio_pika.Message(b"\xc1 not msgpack", message_id="junk"), routing_key=routing_key(0))
        await broker.publish(ROUTE, msg(key, 1))
        inbox = open_inbox(broker, inboxes)

        with caplog.at_level(logging.ERROR, logger="transport.rabbitmq"):
            received = [d.envelope.id for d in await inbox.take(2)]
            dead_letter = await asyncio.wait_for(dead.get(), WAIT)

    assert received == [f"{key}#0", f"{key}#1"]
    assert (dead_letter.body, dead_letter.message_id) == (b"\xc1 not msgpack", "junk")
    assert "undecodable" in caplog.text and "junk" in caplog.text


async def test_nack_without_requeue_lands_in_the_dead_letter_queue(broker: RabbitBroker, inboxes: list[Inbox]) -> None:
    poison = msg("k")
    await broker.publish(ROUTE, poison)
    inbox = open_inbox(broker, inboxes)
    async with raw_channel() as channel, watch(channel, broker.names(ROUTE).dead_letter_queue) as dead:
        await (await inbox.get()).nack(requeue=False)
        dead_letter = await asyncio.wait_for(dead.get(), WAIT)

    assert decode(dead_letter.body) == poison
    assert death_reason(dead_letter) == "rejected"
    await inbox.assert_idle()


async def test_dead_letters_reads_the_queue_in_order_and_leaves_it_in_place(broker: RabbitBroker) -> None:
    await broker.publish(ROUTE, msg("k"))  # declares the route
    letters = [msg("a"), msg("b")]
    async with raw_channel() as channel:  # publisher confirms: they are in the queue when this returns
        dead_exchange = await channel.get_exchange(broker.names(ROUTE).dead_letter_exchange, ensure=True)
        await dead_exchange.publish(aio_pika.Message(encode(letters[0])), routing_key="")
        await dead_exchange.publish(aio_pika.Message(b"\xc1 not msgpack"), routing_key="")
        await dead_exchange.publish(aio_pika.Message(encode(letters[1])), routing_key="")

    assert await broker.dead_letters(ROUTE) == letters  # the undecodable one is skipped, not raised
    assert await broker.dead_letters(ROUTE) == letters


async def test_a_quorum_queue_dead_letters_after_the_delivery_limit(inboxes: list[Inbox]) -> None:
    async with rabbit_broker(queue_type="quorum", delivery_limit=2) as broker:
        poison = msg("k")
        await broker.publish(ROUTE, poison)
        async with raw_channel() as channel, watch(channel, broker.names(ROUTE).dead_letter_queue) as dead:
            inbox = open_inbox(broker, inboxes, prefetch=1)
            counts = []
            for _ in range(3):  # the first delivery and `delivery_limit` redeliveries
                delivery = await inbox.get(WAIT)
                counts.append(delivery.delivery_count)
                await delivery.nack(requeue=True)
            dead_letter = await asyncio.wait_for(dead.get(), WAIT)

        assert counts == [1, 2, 3]
        assert decode(dead_letter.body) == poison
        assert death_reason(dead_letter) == "delivery_limit"
        await inbox.assert_idle()


async def test_classic_queues_count_deliveries_only_as_first_or_redelivered(inboxes: list[Inbox]) -> None:
    async with rabbit_broker(queue_type="classic") as broker:
        await broker.publish(ROUTE, msg("k"))
        inbox = open_inbox(broker, inboxes, prefetch=1)
        seen = []
        for _ in range(3):
            delivery = await inbox.get(WAIT)
            seen.append((delivery.redelivered, delivery.delivery_count))
            await delivery.nack(requeue=True)

    assert seen == [(False, 1), (True, 2), (True, 2)]  # documented best effort: classic has no count


def rabbitmq_proxy() -> TcpProxy:
    """A TCP proxy in front of RabbitMQ that the test can cut, as aio-pika's own robustness tests do."""
    upstream = URL(RABBITMQ_URL)
    return TcpProxy(upstream.host or "127.0.0.1", upstream.port or 5672)


def through(proxy: TcpProxy) -> str:
    """The RabbitMQ URL through ``proxy``, reconnecting quickly."""
    url = URL(RABBITMQ_URL).with_host("127.0.0.1").with_port(proxy.port)
    return str(url.update_query(reconnect_interval="0.1"))


async def test_a_lost_connection_returns_unacked_deliveries_and_the_consumer_resumes(inboxes: list[Inbox]) -> None:
    proxy = rabbitmq_proxy()
    await proxy.start()
    through_proxy = through(proxy)
    try:
        async with rabbit_broker(queue_type="quorum", url=through_proxy) as broker:
            await broker.publish(ROUTE, msg("k", 0))
            inbox = open_inbox(broker, inboxes, prefetch=1)
            lost = await inbox.get(WAIT)

            proxy.cut()
            again = await inbox.get(WAIT)  # the robust connection restored the same consumer
            with pytest.raises(BrokerUnavailable):
                await lost.ack()  # its channel is gone; it must not ack whatever has its tag now
            await again.ack()
            await broker.publish(ROUTE, msg("k", 1))  # publishing works again too
            after = await inbox.get(WAIT)
            await after.ack()

        assert (lost.envelope.id, lost.redelivered) == ("k#0", False)
        assert (again.envelope.id, again.redelivered, again.delivery_count) == ("k#0", True, 2)
        assert (after.envelope.id, after.redelivered) == ("k#1", False)
    finally:
        await proxy.close()


async def test_when_the_active_node_dies_a_standby_takes_over_its_unacked_messages(inboxes: list[Inbox]) -> None:
    proxy = rabbitmq_proxy()
    await proxy.start()
    through_proxy = through(proxy)
    try:
        prefix = fresh_prefix()
        async with (
            rabbit_broker(queue_type="quorum", prefix=prefix) as direct,
            RabbitBroker(through_proxy, shards=4, queue_type="quorum", prefix=prefix) as doomed,
        ):
            await direct.publish(ROUTE, msg("k", 0))
            active = open_inbox(doomed, inboxes)
            in_flight = await active.get(WAIT)
            standby = open_inbox(direct, inboxes)
            await standby.assert_idle()

            proxy.cut()  # the active node is gone, as far as RabbitMQ can tell
            taken_over = await standby.get(WAIT)
            await taken_over.ack()

        assert in_flight.envelope.id == taken_over.envelope.id == "k#0"
        assert (taken_over.redelivered, taken_over.delivery_count) == (True, 2)
    finally:
        await proxy.close()
