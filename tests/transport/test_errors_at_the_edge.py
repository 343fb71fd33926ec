"""The adapters translate "the server is away" into our own errors, and nothing else.

Real Redis and RabbitMQ behind a TCP proxy the test breaks (``tests/support/proxy.py``): a store or
broker whose server cannot be reached raises ``StoreUnavailable`` / ``BrokerUnavailable``, with
the library's exception as the cause, and works again once the server is reachable; an error
the server answered (a wrong type here; a refused declaration in test_rabbitmq.py) goes through
as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from yarl import URL

from engine.errors import BrokerUnavailable, StoreUnavailable, Unavailable
from engine.job import JobState
from engine.messages import Start, envelope
from tests.conformance.rabbitmq_case import connect, delete_topology, fresh_prefix
from tests.conformance.redis_case import redis_store
from tests.support.proxy import TcpProxy
from tests.support.servers import RABBITMQ_URL, REDIS_URL, server_unavailable
from transport.rabbitmq import RabbitBroker
from transport.redis_errors import store_errors, translate_errors


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    upstream = URL(REDIS_URL)
    proxy = TcpProxy(upstream.host or "127.0.0.1", upstream.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.close()


def job(job_id: str) -> JobState:
    return JobState(
        id=job_id, blueprint="bp", client_id="c", current_state="start", initial_data={}, created_at=0, updated_at=0
    )


def away(proxy: TcpProxy) -> None:
    """The server is gone: new connections are refused and live ones cut."""
    proxy.refuse()
    proxy.cut()


async def test_redis_away_is_store_unavailable_and_the_store_recovers(redis_proxy: TcpProxy) -> None:
    through_proxy = str(URL(REDIS_URL).with_host("127.0.0.1").with_port(redis_proxy.port))
    async with redis_store(url=through_proxy) as store:
        assert await store.create_job(job("j1"))

        away(redis_proxy)
        with pytest.raises(StoreUnavailable) as raised:
            await store.load_job("j1")
        assert isinstance(raised.value.__cause__, RedisError | OSError)
        assert raised.value.retryable
        with pytest.raises(StoreUnavailable):
            await store.take_task("w1", ["echo"], 0.0, now=0.0, lease_seconds=1.0)

        redis_proxy.restore()
        loaded = await store.load_job("j1")
        assert loaded is not None and loaded.version == 1


async def test_an_error_redis_answered_is_not_translated() -> None:
    redis = Redis.from_url(REDIS_URL)
    key = f"avtomat-test-{uuid.uuid4().hex[:8]}:string"
    try:
        try:
            await redis.set(key, "v", ex=60)
        except (RedisError, OSError) as exc:
            server_unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
        with pytest.raises(ResponseError, match="WRONGTYPE"), store_errors():
            await redis.hget(key, "field")
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_rabbitmq_away_is_broker_unavailable_after_the_publish_timeout() -> None:
    await (await connect()).close()  # skips locally, fails in CI, without RabbitMQ
    upstream = URL(RABBITMQ_URL)
    proxy = TcpProxy(upstream.host or "127.0.0.1", upstream.port or 5672)
    await proxy.start()
    through_proxy = upstream.with_host("127.0.0.1").with_port(proxy.port).update_query(reconnect_interval="0.1")
    broker = RabbitBroker(str(through_proxy), shards=2, prefix=fresh_prefix(), publish_timeout=0.5)
    try:
        async with broker:
            await broker.publish("mailbox", envelope("k", Start(), 0.0, id="k#0"))

            away(proxy)
            with pytest.raises(BrokerUnavailable) as raised:
                await broker.publish("mailbox", envelope("k", Start(), 0.0, id="k#1"))
            assert isinstance(raised.value, Unavailable) and raised.value.retryable

            proxy.restore()
            async with asyncio.timeout(10):  # the robust connection comes back on its own
                while True:
                    try:
                        await broker.publish("mailbox", envelope("k", Start(), 0.0, id="k#2"))
                        break
                    except BrokerUnavailable:
                        continue
    finally:
        await proxy.close()
        await delete_topology(broker)


@translate_errors
class _SwallowsCancellation:
    """A store whose call returns normally when cancelled, as redis-py 8 can."""

    def __init__(self) -> None:
        self.calls = 0

    async def read(self) -> None:
        self.calls += 1
        with contextlib.suppress(asyncio.CancelledError):  # swallowed
            await asyncio.sleep(3600)


async def test_a_cancellation_a_store_call_swallowed_is_raised_again() -> None:
    """Otherwise a loop of store calls (a leader's ticks, a deliverer's rounds) could not be stopped."""
    store = _SwallowsCancellation()

    async def loop() -> None:
        while True:
            await store.read()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
    assert store.calls == 1
