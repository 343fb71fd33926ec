"""The composition root's distributed transports: every process of a namespace uses one shard count."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from engine.errors import ConfigError, Unavailable
from tests.conformance.rabbitmq_case import fresh_prefix
from tests.support.servers import RABBITMQ_URL, REDIS_URL, need_redis, server_unavailable
from transport.app.settings import Settings
from transport.app.wiring import transports


def _settings(namespace: str, shards: int) -> Settings:
    env = {"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL, "AVTOMAT_NAMESPACE": namespace}
    return Settings.from_env({**env, "JOB_SHARDS": str(shards)})


async def test_a_process_with_another_job_shards_than_its_namespace_does_not_start() -> None:
    namespace = fresh_prefix()
    client = Redis.from_url(REDIS_URL)
    await need_redis(client)
    try:
        try:
            async with transports(_settings(namespace, 4)):
                pass
        except Unavailable as exc:
            server_unavailable(f"RabbitMQ or Redis is away: {exc}")
        async with transports(_settings(namespace, 4)):
            pass  # the same count starts again
        with pytest.raises(ConfigError) as caught:
            async with transports(_settings(namespace, 8)):
                pass
    finally:
        await client.delete(f"{namespace}:pinned:JOB_SHARDS")
        await client.aclose()
    assert caught.value.variable == "JOB_SHARDS"
    assert "8 differs from the 4" in str(caught.value)
