"""Automatic pipelining on a real Redis: one turn's commands share a connection and a round trip,
and each keeps its own outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from tests.support.servers import REDIS_URL, need_redis
from transport.redis_batch import Batcher


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    name = f"avtomat-batch-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL, client_name=name)
    await need_redis(redis)
    yield redis
    await redis.delete(*(await redis.keys(f"{name}:*")) or [f"{name}:none"])
    await redis.aclose()


def client_name(redis: Redis) -> str:
    return str(redis.connection_pool.connection_kwargs["client_name"])


async def connections_named(redis: Redis, name: str) -> int:
    """Server-side connections named ``name`` (asking reuses the idle one, if there is one)."""
    return sum(1 for c in await redis.client_list() if c.get("name") == name)


async def test_commands_of_one_turn_go_out_on_one_connection(client: Redis) -> None:
    name = client_name(client)
    batch = Batcher(client)

    replies = await asyncio.gather(*(batch.execute("SET", f"{name}:{i}", i) for i in range(50)))
    values = await asyncio.gather(*(batch.execute("GET", f"{name}:{i}") for i in range(50)))

    assert replies == [True] * 50
    assert values == [str(i).encode() for i in range(50)]
    assert await connections_named(client, name) == 1  # 100 concurrent commands, two round trips


async def test_an_error_reply_fails_its_own_caller_only(client: Redis) -> None:
    name = client_name(client)
    batch = Batcher(client)
    await client.set(f"{name}:string", "v")

    replies: tuple[Any, ...] = await asyncio.gather(
        batch.execute("GET", f"{name}:string"),
        batch.execute("HGET", f"{name}:string", "field"),  # WRONGTYPE
        batch.execute("INCR", f"{name}:counter"),
        return_exceptions=True,
    )
    before, wrong, after = replies

    assert before == b"v"
    assert isinstance(wrong, ResponseError)
    assert "WRONGTYPE" in str(wrong)
    assert after == 1


async def test_a_script_the_server_does_not_know_yet_is_loaded_and_run(client: Redis) -> None:
    token = uuid.uuid4().hex
    script = client.register_script(f"return {{KEYS[1], ARGV[1], '{token}'}}")  # never loaded before
    batch = Batcher(client)

    first = await batch.script(script, ["k"], ["a"])
    second, third = await asyncio.gather(batch.script(script, ["k"], ["b"]), batch.script(script, ["k"], ["c"]))

    assert first == [b"k", b"a", token.encode()]
    assert (second, third) == ([b"k", b"b", token.encode()], [b"k", b"c", token.encode()])
