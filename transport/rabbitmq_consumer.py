"""The RabbitMQ consumer: one ``Delivery`` per envelope, each AMQP message settled once (ADR 0013).

A lone envelope is acked or nacked as it is; the envelopes of a frame are handed out in frame
order and the frame is settled when the last of them is: acked if none asked for a requeue, else
requeued whole; a poison envelope of a frame is dead-lettered alone. See ``transport.rabbitmq``
for the topology, ordering and reconnection this relies on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel, FieldValue
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from engine.errors import BrokerUnavailable, MessageDecodeError
from engine.messages import Envelope, decode
from transport.frames import ENVELOPE_CONTENT_TYPE, FRAME_CONTENT_TYPE, split_frame
from transport.rabbitmq_errors import AWAY, broker_errors, reraise

if TYPE_CHECKING:
    from transport.rabbitmq import RabbitBroker

log = logging.getLogger(__name__)

_PERSISTENT = aio_pika.DeliveryMode.PERSISTENT
_CANCEL_TIMEOUT = 10.0  # seconds; past it (say, mid-reconnect) the consumer's channel is closed instead
_SETTLE_ERRORS = (AMQPError, ChannelInvalidStateError)


class _Frame:
    """One received AMQP message and what its envelopes' deliveries decided; settled once, when
    the last of them is: acked if none asked for a requeue, else requeued whole."""

    __slots__ = ("message", "requeue", "size", "unsettled", "void")

    def __init__(self, message: AbstractIncomingMessage, size: int) -> None:
        self.message, self.size, self.unsettled = message, size, size
        self.requeue = self.void = False

    async def settle(self, requeue: bool) -> None:
        if self.void:  # its channel is gone: RabbitMQ has the message back already
            raise BrokerUnavailable(f"the channel of {self.message.message_id} was lost; it will be redelivered")
        self.requeue |= requeue
        self.unsettled -= 1
        if self.unsettled == 0:
            await (self.message.nack(requeue=True) if self.requeue else self.message.ack())


class RabbitDelivery:
    """One envelope of a received message (a lone envelope, or one of a frame).

    ``redelivered`` and ``delivery_count`` are the message's: exact on quorum queues
    (``x-delivery-count``, the number of earlier failed deliveries, plus one); classic queues
    count nothing, so there it is 1, or 2 for "redelivered at least once".

    Settling an envelope of a frame (ADR 0013): ``ack`` counts it done; ``nack(requeue=True)``
    has the whole frame requeued once every envelope is settled (the others re-apply
    idempotently by envelope id); ``nack(requeue=False)`` publishes this envelope alone,
    confirmed, to the route's dead-letter exchange, then counts it done. The frame is acked or
    requeued when its last envelope is settled.
    """

    def __init__(self, consumer: RabbitConsumer, frame: _Frame, env: Envelope, body: bytes) -> None:
        self.envelope = env
        message = frame.message
        self.redelivered = bool(message.redelivered)
        earlier = message.headers.get("x-delivery-count")  # quorum queues only; absent on a first delivery
        self.delivery_count = earlier + 1 if type(earlier) is int else 1 + self.redelivered
        self._consumer, self._frame, self._body = consumer, frame, body
        self._settled = False

    async def ack(self) -> None:
        """Acknowledge; only the first ack or nack counts, later calls do nothing."""
        if self._claim():
            try:  # a plain try, as in ``publish``: once per envelope
                await self._frame.settle(requeue=False)
            except AWAY as exc:
                reraise(exc, "acking")

    async def nack(self, requeue: bool = True) -> None:
        """Requeue (redelivered, before later messages of its queue) or dead-letter (``requeue=False``)."""
        if self._claim():
            with broker_errors("nacking"):
                if self._frame.size == 1:
                    await self._frame.message.nack(requeue=requeue)
                    return
                if not requeue:
                    await self._consumer._dead_letter_alone(self._body, self.envelope.id, self._frame)
                await self._frame.settle(requeue)

    def _claim(self) -> bool:
        if self._settled or self._consumer._closed:  # closed: RabbitMQ has it back already
            return False
        self._settled = True
        self._consumer._release(self)
        return True


class RabbitConsumer:
    """Consumes shard queues of a route (all, or the ``shards`` given) on its own channel, with manual acks.

    Subscribes to the queues in shard order on first iteration, so of two consumers the first
    to subscribe is the single active consumer of every queue. RabbitMQ's prefetch counts per
    queue (quorum queues refuse a channel-wide one) and counts AMQP messages, so up to
    ``prefetch`` messages per queue, each up to ``MAX_FRAME_ENVELOPES`` envelopes, may be
    buffered here, unacked; the iterator hands out at most ``prefetch`` unsettled envelopes
    (deliveries) and holds the rest back, so the runner's concurrency stays bounded.
    """

    def __init__(self, broker: RabbitBroker, route: str, prefetch: int, shards: tuple[int, ...]) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be positive")
        self._broker, self._route, self._prefetch, self._shards = broker, route, prefetch, shards
        self._channel: AbstractRobustChannel | None = None
        self._subscriptions: list[tuple[AbstractQueue, str]] = []  # (queue, consumer tag)
        self._buffer: deque[AbstractIncomingMessage] = deque()  # received, not yet opened
        self._ready: deque[RabbitDelivery] = deque()  # envelopes of opened messages, not yet handed out
        self._in_hand: set[RabbitDelivery] = set()  # handed out, not yet settled
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()  # subscribe and cancel never interleave
        self._cancelled = self._closed = False

    def __aiter__(self) -> AsyncIterator[RabbitDelivery]:
        return self._deliveries()

    async def _deliveries(self) -> AsyncIterator[RabbitDelivery]:
        """Hand out the envelopes of the buffered messages in arrival order (a frame's in its
        order) while fewer than ``prefetch`` envelopes are in hand."""
        with broker_errors(f"subscribing to {self._route}"):
            await self._subscribe()
        while not self._cancelled:
            if not self._ready:
                if self._buffer:
                    await self._open(self._buffer.popleft())
                    continue
            elif len(self._in_hand) < self._prefetch:
                delivery = self._ready.popleft()
                self._in_hand.add(delivery)
                yield delivery
                continue
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _open(self, message: AbstractIncomingMessage) -> None:
        """Decode a received message into deliveries, one per envelope. An undecodable message
        is dead-lettered whole; an undecodable envelope of a frame alone."""
        try:
            if message.content_type != FRAME_CONTENT_TYPE:  # a lone envelope (any earlier version's)
                frame = _Frame(message, 1)
                self._ready.append(RabbitDelivery(self, frame, decode(message.body), message.body))
                self._count(1)
                return
            bodies = split_frame(message.body)
            frame = _Frame(message, len(bodies))
            self._count(len(bodies))
            for body in bodies:
                try:
                    self._ready.append(RabbitDelivery(self, frame, decode(body), body))
                except MessageDecodeError as exc:
                    await self._dead_letter_envelope(body, frame, exc)
        except MessageDecodeError as exc:
            await self._dead_letter(message, exc)

    async def _dead_letter_envelope(self, body: bytes, frame: _Frame, exc: MessageDecodeError) -> None:
        frame_id = frame.message.message_id or ""
        log.error("%s: dead-lettering an undecodable envelope of %s: %s", self._route, frame_id, exc)
        try:
            await self._dead_letter_alone(body, frame_id, frame)
            await frame.settle(requeue=False)
        except (*AWAY, *_SETTLE_ERRORS, BrokerUnavailable) as error:
            log.warning("%s: %r; %s will be redelivered", self._route, error, frame_id)

    def _count(self, envelopes: int) -> None:
        counts = self._broker.counts
        counts.frames_consumed += 1
        counts.envelopes_consumed += envelopes

    async def _dead_letter_alone(self, body: bytes, envelope_id: str, frame: _Frame) -> None:
        """Publish one envelope of ``frame`` by itself to the route's dead-letter exchange, confirmed."""
        if frame.void:
            raise BrokerUnavailable(f"the channel of {frame.message.message_id} was lost; it will be redelivered")
        queue = frame.message.routing_key or ""
        headers: dict[str, FieldValue] = {"x-avtomat-death": "rejected", "x-avtomat-routing-key": queue}
        message = aio_pika.Message(
            body, message_id=envelope_id, content_type=ENVELOPE_CONTENT_TYPE, delivery_mode=_PERSISTENT, headers=headers
        )
        exchange = await self._broker._dead_letter_exchange(self._route)
        async with asyncio.timeout(self._broker._publish_timeout):
            await self._broker._publish_until_confirmed(exchange, message, "")

    async def _subscribe(self) -> None:
        async with self._lock:
            if self._cancelled or self._channel is not None:
                return
            names, _ = await self._broker._route(self._route)
            channel = self._channel = await self._broker._connected()[0].channel(publisher_confirms=False)
            channel.close_callbacks.add(self._on_channel_lost)
            await channel.set_qos(prefetch_count=self._prefetch)
            arguments = self._broker._shard_arguments(names)
            for shard in self._shards:  # the same order in every consumer: see the class docstring
                queue = await channel.declare_queue(names.shard_queues[shard], durable=True, arguments=arguments)
                self._subscriptions.append((queue, await queue.consume(self._on_message)))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.append(message)  # no await before this: arrival order is kept
        self._wakeup.set()

    def _on_channel_lost(self, _channel: object, _exc: BaseException | None) -> None:
        """The channel closed (reconnect, or our close): RabbitMQ has requeued all it held."""
        for delivery in (*self._in_hand, *self._ready):
            delivery._frame.void = True
        self._buffer.clear()
        self._ready.clear()
        self._in_hand.clear()
        self._wakeup.set()

    def _release(self, delivery: RabbitDelivery) -> None:
        self._in_hand.discard(delivery)
        self._wakeup.set()

    async def _dead_letter(self, message: AbstractIncomingMessage, exc: MessageDecodeError) -> None:
        log.error("%s: dead-lettering undecodable message %s: %s", self._route, message.message_id, exc)
        try:
            await message.nack(requeue=False)
        except _SETTLE_ERRORS:
            log.warning("%s: channel lost; undecodable %s will be redelivered", self._route, message.message_id)

    async def cancel(self) -> None:
        """basic.cancel every queue: iteration ends, deliveries in hand can still be settled, and
        RabbitMQ hands the queues to the next consumer. Idempotent; a concurrent call (say, a
        close() while the node's cancel() is under way) returns when the first is done."""
        self._cancelled = True
        self._wakeup.set()
        try:
            async with asyncio.timeout(_CANCEL_TIMEOUT), self._lock:
                while self._subscriptions:
                    queue, tag = self._subscriptions.pop(0)
                    await queue.cancel(tag)
        except (TimeoutError, *_SETTLE_ERRORS) as exc:
            log.warning("%s: cancel failed (%r); closing the channel instead", self._route, exc)
            await self._close_channel()

    async def close(self) -> None:
        """Cancel, then close the channel: RabbitMQ requeues every unacked delivery, and settling
        one afterwards does nothing. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.cancel()
        await self._close_channel()
        self._broker._consumers.discard(self)

    async def _close_channel(self) -> None:
        channel = self._channel
        if channel is not None:
            await channel.close()  # also when already lost: keeps the robust connection from restoring it
        self._on_channel_lost(channel, None)
