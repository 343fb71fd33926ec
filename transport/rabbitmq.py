"""The RabbitMQ broker (aio-pika): every route is ``shards`` durable queues, never a queue per job.

Topology (names from ``transport.names``), declared idempotently on a route's first use: a
durable direct exchange; ``shards`` durable ``x-single-active-consumer`` queues bound by routing
key = ``shard_of(key)``; a fanout dead-letter exchange and queue. Quorum adds ``x-delivery-limit``.

Order: a key's messages share a shard queue, and single active consumer gives a queue to one
consumer at a time, so they reach one node in publish order. Who acks: the holder of a
``Delivery`` (the runtime, after commit); a consumer closing or a channel or process dying
returns every unacked message, marked redelivered. Reconnect: ``connect_robust`` re-declares the
topology and restores every consumer not cancelled; deliveries of the lost channel are void
(already requeued), and settling one raises ``BrokerUnavailable`` instead of settling whichever
message now has its delivery tag.

Frames (ADR 0013, ``transport.frames``): the envelopes that queue up for one shard queue behind
a publish awaiting its confirm leave as one AMQP message; the consumer hands out one
``Delivery`` per envelope and settles the message once, after the last of them.

Errors: RabbitMQ being away (no connection, a channel lost with it, a publish unconfirmed past
its timeout) leaves every public method as ``engine.errors.BrokerUnavailable``; a refusal
(``PRECONDITION_FAILED``, an unroutable publish) or bad credentials go through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from time import perf_counter
from types import TracebackType

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, FieldValue
from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError

from actors.stats import IO_BUCKETS, Histogram
from engine import defaults
from engine.errors import BrokerUnavailable, MessageDecodeError
from engine.messages import Envelope, decode, encode
from transport.frames import (
    ENVELOPE_CONTENT_TYPE,
    FRAME_CONTENT_TYPE,
    FrameCounts,
    Lane,
    Pending,
    encode_frame,
    resolve,
    split_frame,
)
from transport.names import RouteNames, route_names, routing_key
from transport.rabbitmq_consumer import RabbitConsumer
from transport.rabbitmq_errors import AWAY, broker_errors, reraise, translate
from transport.sharding import shard_of

log = logging.getLogger(__name__)

CONTENT_TYPE = ENVELOPE_CONTENT_TYPE  # of a lone envelope; a frame has FRAME_CONTENT_TYPE
_PERSISTENT = aio_pika.DeliveryMode.PERSISTENT
# A publish that lost its connection or channel before the confirm: retried (see ``publish``).
_LOST = (ConnectionError, ChannelInvalidStateError, AMQPConnectionError)
_REPUBLISH_DELAY = 0.2


class RabbitBroker:
    """``Broker`` on RabbitMQ. ``await broker.connect()`` (or ``async with``) before use."""

    def __init__(
        self,
        url: str,
        *,
        shards: int = defaults.JOB_SHARDS,
        queue_type: str = defaults.RABBITMQ_QUEUE_TYPE,
        delivery_limit: int = defaults.RABBITMQ_DELIVERY_LIMIT,
        prefix: str = defaults.NAMESPACE,
        publish_timeout: float = 30.0,
    ) -> None:
        route_names(prefix, "check", queue_type, shards)  # a bad prefix, type or count fails here, not later
        self._url, self._shards, self._prefix = url, shards, prefix
        self._queue_type, self._delivery_limit = queue_type, delivery_limit
        self._publish_timeout = publish_timeout
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._routes: dict[str, tuple[RouteNames, AbstractExchange]] = {}
        self._declaring = asyncio.Lock()
        self._consumers: set[RabbitConsumer] = set()
        self._lanes: dict[tuple[str, int], Lane] = {}  # (route, shard): see ``publish``
        self._draining: set[asyncio.Task[None]] = set()
        self._dead_exchanges: dict[str, AbstractExchange] = {}  # by dead-letter exchange name
        self.counts = FrameCounts()
        self.confirms = Histogram(IO_BUCKETS)  # seconds from publish to confirm, per AMQP message
        self._closed = False

    async def connect(self) -> None:
        """Connect and open the publishing channel (publisher confirms). Idempotent."""
        if self._connection is None:
            with broker_errors("connecting"):
                self._connection = await aio_pika.connect_robust(self._url)
                self._publisher = await self._connection.channel(publisher_confirms=True, on_return_raises=True)

    async def __aenter__(self) -> RabbitBroker:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def routes(self) -> frozenset[str]:
        """The routes this broker has declared so far."""
        return frozenset(self._routes)

    def names(self, route: str) -> RouteNames:
        return route_names(self._prefix, route, self._queue_type, self._shards)

    async def publish(self, route: str, env: Envelope) -> None:
        """Return once RabbitMQ confirmed the AMQP message carrying ``env`` (persistent, routed to
        its shard queue): alone, or in a frame with the envelopes that queued up behind the
        previous publish to that queue (``transport.frames``). Per-key order is kept: one lane
        per shard queue, one frame in flight on it at a time.

        A connection or channel lost before the confirm (a broker restart, a network cut) is
        retried on the restored channel; past ``publish_timeout`` from this call,
        ``BrokerUnavailable``: the caller is told only when the broker stayed unreachable. A retry
        after a lost confirm may publish the message twice; receivers de-duplicate by envelope
        id. ``DeliveryError`` (refused or unroutable) is not retried. Every sender of a frame
        hears what its publish raised. A sender that gives up (timeout, cancel) before its
        envelope left takes it out of the lane.
        """
        self._connected()
        shard = shard_of(env.key, self._shards)
        lane = self._lanes.get((route, shard))
        if lane is None:
            lane = self._lanes[(route, shard)] = Lane(routing_key(shard))
        try:
            async with asyncio.timeout(self._publish_timeout):
                if lane.busy:  # queue up behind the publish in flight; leave in the next frame
                    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    lane.pending.append(Pending(encode(env), env.id, future))
                    await future
                    return
                lane.busy = True  # the lane is idle: go at once, alone, from this task
                try:
                    await self._publish_alone(route, lane.routing_key, env)
                finally:
                    self._hand_over(route, lane)
        except TimeoutError as exc:
            unreachable = f"RabbitMQ unreachable for {self._publish_timeout:g} s: {env.id} not published"
            raise BrokerUnavailable(unreachable) from exc

    async def _publish_alone(self, route: str, key: str, env: Envelope) -> None:
        message = aio_pika.Message(encode(env), message_id=env.id, content_type=CONTENT_TYPE, delivery_mode=_PERSISTENT)
        try:  # not ``broker_errors()``: a plain try costs a tenth on this hot path
            _, exchange = await self._route(route)
            await self._publish_until_confirmed(exchange, message, key)
        except AWAY as exc:
            reraise(exc, f"publishing {env.id}")
        self.counts.envelopes_published += 1
        self.counts.frames_published += 1

    def _hand_over(self, route: str, lane: Lane) -> None:
        """The publish in flight on ``lane`` is over: what queued up behind it leaves now, in frames."""
        if not lane.pending:
            lane.busy = False
            return
        task = asyncio.create_task(self._drain(route, lane))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain(self, route: str, lane: Lane) -> None:
        """Send the lane's envelopes, a frame at a time, until it is empty; at close, every
        sender still waiting hears ``BrokerUnavailable``."""
        try:
            while batch := lane.take():
                await self._send(route, lane.routing_key, batch)
        finally:
            lane.busy = False
            if lane.pending:  # cancelled (the broker closes)
                resolve(lane.pending, BrokerUnavailable("the RabbitMQ broker closed before publishing"))
                lane.pending.clear()

    async def _send(self, route: str, key: str, batch: list[Pending]) -> None:
        message = _amqp_message(batch)
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self._publish_timeout):
                _, exchange = await self._route(route)
                await self._publish_until_confirmed(exchange, message, key, batch)
            self.counts.envelopes_published += len(batch)
            self.counts.frames_published += 1
        except asyncio.CancelledError:
            resolve(batch, BrokerUnavailable("the RabbitMQ broker closed before the confirm"))
            raise
        except TimeoutError as exc:
            unreachable = f"RabbitMQ unreachable for {self._publish_timeout:g} s: {len(batch)} envelopes not published"
            error = BrokerUnavailable(unreachable)
            error.__cause__ = exc
        except AWAY as exc:
            error = translate(exc, "publishing")
        except Exception as exc:  # a refusal (DeliveryError...): every sender of the frame hears it
            error = exc
        resolve(batch, error)

    async def _publish_until_confirmed(
        self, exchange: AbstractExchange, message: aio_pika.Message, key: str, batch: Sequence[Pending] = ()
    ) -> None:
        """Publish and await the confirm, again after a lost connection, until every sender of
        ``batch`` (if any) gave up."""
        while True:
            try:
                await self._connected()[1].ready()
                sent = perf_counter()
                await exchange.publish(message, routing_key=key, mandatory=True)
                self.confirms.observe(perf_counter() - sent)
                return
            except _LOST as exc:
                if batch and all(item.future.done() for item in batch):
                    return  # nobody waits for it any more
                log.warning("publishing %s: connection lost (%s); retrying", message.message_id, exc)
                await asyncio.sleep(_REPUBLISH_DELAY)

    @property
    def shards(self) -> int:
        return self._shards

    def consume(self, route: str, *, prefetch: int, shards: Sequence[int] | None = None) -> RabbitConsumer:
        """A consumer of the shard queues ``shards`` (all when None) of ``route``; it subscribes
        when first iterated."""
        selected = tuple(sorted(set(range(self._shards) if shards is None else shards)))
        consumer = RabbitConsumer(self, route, prefetch, selected)
        self._consumers.add(consumer)
        return consumer

    async def dead_letters(self, route: str) -> list[Envelope]:
        """The envelopes dead-lettered on ``route``, oldest first, left in place (for inspection).

        basic.get holds each one unacked until the queue is empty; closing the channel puts them
        back in order. Dead-lettering is asynchronous (a nack has no confirm): one nacked a moment
        ago may not be here yet. Undecodable bodies are skipped (read the queue for raw bytes).
        """
        with broker_errors("reading dead letters"):
            return await self._dead_letters(route)

    async def _dead_letters(self, route: str) -> list[Envelope]:
        names, _ = await self._route(route)
        channel = await self._connected()[0].channel(publisher_confirms=False)
        try:
            queue = await channel.get_queue(names.dead_letter_queue, ensure=False)
            envelopes: list[Envelope] = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                try:  # a frame past the delivery limit is dead-lettered whole: read its envelopes
                    frame = message.content_type == FRAME_CONTENT_TYPE
                    envelopes.extend(map(decode, split_frame(message.body) if frame else [message.body]))
                except MessageDecodeError:
                    log.warning("%s: undecodable dead letter %s skipped", route, message.message_id)
            return envelopes
        finally:
            await channel.close()

    async def close(self) -> None:
        """Close every consumer (unacked messages return to their queues), then the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._consumers):
            await consumer.close()
        for task in list(self._draining):
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
        log.info("RabbitMQ broker: %s", self.counts.summary())

    def _connected(self) -> tuple[aio_pika.abc.AbstractRobustConnection, AbstractRobustChannel]:
        if self._connection is None or self._publisher is None or self._closed:
            raise RuntimeError("RabbitBroker is not connected (use connect() or async with)")
        return self._connection, self._publisher

    async def _route(self, route: str) -> tuple[RouteNames, AbstractExchange]:
        cached = self._routes.get(route)
        if cached is not None:
            return cached
        async with self._declaring:
            if route not in self._routes:
                names = self.names(route)
                self._routes[route] = (names, await self._declare(names))
            return self._routes[route]

    async def _dead_letter_exchange(self, route: str) -> AbstractExchange:
        names, _ = await self._route(route)
        return self._dead_exchanges[names.dead_letter_exchange]

    async def _declare(self, names: RouteNames) -> AbstractExchange:
        """Declare one route's topology on the (robust) publishing channel, which re-declares it
        after a reconnect. An existing queue with other arguments fails with PRECONDITION_FAILED."""
        _, channel = self._connected()
        dead_exchange = await channel.declare_exchange(
            names.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dead_queue = await channel.declare_queue(
            names.dead_letter_queue, durable=True, arguments={"x-queue-type": self._queue_type}
        )
        await dead_queue.bind(dead_exchange, routing_key="")
        self._dead_exchanges[names.dead_letter_exchange] = dead_exchange
        exchange = await channel.declare_exchange(names.exchange, aio_pika.ExchangeType.DIRECT, durable=True)
        for shard, name in enumerate(names.shard_queues):
            queue = await channel.declare_queue(name, durable=True, arguments=self._shard_arguments(names))
            await queue.bind(exchange, routing_key=routing_key(shard))
        return exchange

    def _shard_arguments(self, names: RouteNames) -> dict[str, FieldValue]:
        arguments: dict[str, FieldValue] = {
            "x-queue-type": self._queue_type,
            "x-single-active-consumer": True,
            "x-dead-letter-exchange": names.dead_letter_exchange,
        }
        if self._queue_type == "quorum":
            arguments["x-delivery-limit"] = self._delivery_limit
            # A dead letter leaves the shard queue only once the dead-letter queue confirmed it;
            # RabbitMQ requires reject-publish overflow for that (no length limit is set, so moot).
            arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
        return arguments


def _amqp_message(batch: Sequence[Pending]) -> aio_pika.Message:
    """A lone envelope as before frames existed (any consumer reads it), else a frame."""
    if len(batch) == 1:
        item = batch[0]
        return aio_pika.Message(
            item.body, message_id=item.id, content_type=ENVELOPE_CONTENT_TYPE, delivery_mode=_PERSISTENT
        )
    body = encode_frame([item.body for item in batch])
    return aio_pika.Message(body, message_id=batch[0].id, content_type=FRAME_CONTENT_TYPE, delivery_mode=_PERSISTENT)
