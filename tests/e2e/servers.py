"""The real servers the distributed end-to-end tests need, and cleaning a namespace off them."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import redis.asyncio as redis

from engine import routes
from tests.support.servers import RABBITMQ_URL, REDIS_URL, server_unavailable
from transport.names import route_names

SHARDS = 4
QUEUE_TYPE = "quorum"


def fresh_namespace(kind: str) -> str:
    return f"avtomat-{kind}-{uuid.uuid4().hex[:8]}"


def distributed_env(namespace: str) -> dict[str, str]:
    """Environment of avtomat processes on the distributed runtime; skips (locally) or fails (in
    CI) when RabbitMQ or Redis is not reachable."""
    asyncio.run(_check_servers())
    return {
        "RABBITMQ_URL": RABBITMQ_URL,
        "REDIS_URL": REDIS_URL,
        "AVTOMAT_NAMESPACE": namespace,
        "JOB_SHARDS": str(SHARDS),
        "RABBITMQ_QUEUE_TYPE": QUEUE_TYPE,
        # These runs submit and read as fast as they can (rate limits: tests/e2e/test_tenancy.py).
        "RATE_LIMITING_ENABLED": "false",
    }


async def _check_servers() -> None:
    try:
        connection = await aio_pika.connect(RABBITMQ_URL)
        await connection.close()
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        server_unavailable(f"RabbitMQ is not reachable at {RABBITMQ_URL}: {exc!r}")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        server_unavailable(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    finally:
        await client.aclose()


def purge(namespace: str) -> None:
    """Delete every queue, exchange and Redis key of ``namespace``."""
    asyncio.run(_purge(namespace))


async def _purge(namespace: str) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        for route in routes.ALL:
            names = route_names(namespace, route, QUEUE_TYPE, SHARDS)
            for queue in names.queues:
                await channel.queue_delete(queue)
            for exchange in names.exchanges:
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
