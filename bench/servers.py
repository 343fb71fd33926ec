"""The RabbitMQ and Redis of this machine: their CPU use, and cleaning a namespace off them.

Both servers are shared with whatever else runs on the machine, so their CPU figures include
that; the report says so.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import redis.asyncio as redis

from bench import procs
from engine import defaults, routes
from transport.app.processes import cpu_seconds
from transport.names import route_names


@dataclass(frozen=True)
class Servers:
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    shards: int = defaults.JOB_SHARDS
    queue_type: str = "classic"

    def avtomat_env(self, namespace: str) -> dict[str, str]:
        """Environment of avtomat processes on the distributed runtime, in ``namespace``."""
        return {
            "RABBITMQ_URL": self.rabbitmq_url,
            "REDIS_URL": self.redis_url,
            "AVTOMAT_NAMESPACE": namespace,
            "JOB_SHARDS": str(self.shards),
            "RABBITMQ_QUEUE_TYPE": self.queue_type,
        }

    def purge(self, namespace: str) -> None:
        """Delete every queue, exchange and Redis key of ``namespace``."""
        asyncio.run(self._purge(namespace))

    async def _purge(self, namespace: str) -> None:
        connection = await aio_pika.connect(self.rabbitmq_url)
        try:
            channel = await connection.channel()
            for route in routes.ALL:
                names = route_names(namespace, route, self.queue_type, self.shards)
                for queue in names.queues:
                    await channel.queue_delete(queue)
                for exchange in names.exchanges:
                    await channel.exchange_delete(exchange)
        finally:
            await connection.close()
        await self.delete_keys(namespace)

    async def delete_keys(self, namespace: str) -> None:
        """Delete every Redis key of ``namespace`` (SCAN, so the server is not blocked)."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
            for start in range(0, len(keys), 1000):
                await client.delete(*keys[start : start + 1000])
        finally:
            await client.aclose()

    def redis_cpu_seconds(self) -> float | None:
        """Redis server CPU seconds so far (``INFO cpu``: user + sys), or None if unreachable."""
        return asyncio.run(self.redis_cpu())

    async def redis_cpu(self) -> float | None:
        """``redis_cpu_seconds`` from inside a running event loop."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            info = await client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        except (OSError, redis.RedisError):
            return None
        finally:
            await client.aclose()


def rabbitmq_cpu_seconds() -> float | None:
    """CPU seconds of the RabbitMQ (Erlang ``beam.smp``) process, or None if it is not readable."""
    pid = procs.find_pid("beam.smp")
    return cpu_seconds(pid) if pid is not None else None


def postgres_cpu_seconds(database: str) -> float | None:
    """CPU seconds of the PostgreSQL server's processes that work for ``database``: its client
    backends (their process title names the database) and the background ones (WAL writer,
    checkpointer, autovacuum...), shared with other databases. None if none is readable.
    Backends that exited since the last call drop out of the sum: the archive keeps its pool's."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            is_client = "(" in title or "[local]" in title
            if not is_client or f" {database} " in title:
                total += cpu_seconds(int(entry.name))
                found = True
        except OSError:
            continue
    return total if found else None


def fresh_namespace() -> str:
    return f"avtomat-bench-{uuid.uuid4().hex[:8]}"
