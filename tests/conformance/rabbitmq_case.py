"""The conformance suite's RabbitMQ case, and the connection helpers RabbitMQ-specific tests share.

Every case gets its own prefix (``avtomat-test-<8 hex>``), so tests never share a queue, and
deletes every exchange and queue it declared on the way out. The suite runs on quorum queues,
the production type; ``AVTOMAT_TEST_QUEUE_TYPE=classic`` runs it on classic queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from engine.messages import Envelope
from tests.support.servers import RABBITMQ_URL, server_unavailable
from transport.rabbitmq import RabbitBroker

if TYPE_CHECKING:
    from tests.conformance.conftest import BrokerCase

QUEUE_TYPE = os.environ.get("AVTOMAT_TEST_QUEUE_TYPE", "quorum")
QUIET = 0.2  # seconds: RabbitMQ pushes a ready message to an idle consumer well within this


def fresh_prefix() -> str:
    return f"avtomat-test-{uuid.uuid4().hex[:8]}"


async def quiet() -> None:
    await asyncio.sleep(QUIET)


async def connect(url: str = RABBITMQ_URL) -> AbstractRobustConnection:
    """A connection, or skip (locally) / fail (in CI) when RabbitMQ is not reachable."""
    try:
        return await aio_pika.connect_robust(url)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        server_unavailable(f"RabbitMQ is not reachable at {url}: {exc!r}")


async def delete_topology(broker: RabbitBroker) -> None:
    """Delete the exchanges and queues of every route ``broker`` declared."""
    connection = await connect()
    try:
        channel = await connection.channel()
        for route in broker.routes:
            names = broker.names(route)
            for queue in names.queues:
                await channel.queue_delete(queue)
            for exchange in names.exchanges:
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def rabbit_broker(
    shards: int = 4,
    queue_type: str = QUEUE_TYPE,
    url: str = RABBITMQ_URL,
    delivery_limit: int = 20,
    prefix: str | None = None,
) -> AsyncIterator[RabbitBroker]:
    """A connected broker under a fresh prefix (or ``prefix``); its topology is deleted afterwards."""
    await (await connect()).close()  # skips or fails before anything is declared
    prefix = prefix or fresh_prefix()
    broker = RabbitBroker(url, shards=shards, queue_type=queue_type, delivery_limit=delivery_limit, prefix=prefix)
    try:
        async with broker:
            yield broker
    finally:
        await delete_topology(broker)


@contextlib.asynccontextmanager
async def rabbitmq_broker_case() -> AsyncIterator[BrokerCase]:
    """``BROKERS["rabbitmq"]``: a ``BrokerCase`` on a RabbitMQ broker of 4 shards."""
    from tests.conformance.conftest import BrokerCase

    async with rabbit_broker() as broker:

        async def dead_letters(route: str) -> list[Envelope]:
            await quiet()  # a nack has no confirm: give the dead-lettering time to land
            return await broker.dead_letters(route)

        yield BrokerCase(broker, "conformance", 4, dead_letters, quiet)
