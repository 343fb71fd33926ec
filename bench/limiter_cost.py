"""``python -m bench.limiter_cost``: what the rate limiter costs per request at the gateway.

Serves one gateway in this process on the local Redis (a fresh key prefix, deleted afterwards)
and sends ``--requests`` client reads of a job that does not exist (authentication, the limit
check, one job read, a 404), ``--concurrency`` at a time, with ``RATE_LIMITING_ENABLED`` off
and on (a limit high enough never to refuse). Reports wall time and this process's CPU per
request for each, and the difference: the limiter's cost (one Redis script through the batcher).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import replace

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from engine.registry import BlueprintRegistry
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker
from transport.redis_store import RedisStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "bench-client"


async def run(settings: Settings, store: RedisStore, requests: int, concurrency: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per request."""
    app = build_app(GatewayContext(settings, store, MemoryBroker(), BlueprintRegistry()))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/api/v1/jobs/nope"
    try:
        async with aiohttp.ClientSession(headers={"X-Client-Token": TOKEN}) as http:
            left = requests

            async def client() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    async with http.get(url) as resp:
                        assert resp.status == 404, await resp.text()

            await asyncio.gather(*(client() for _ in range(min(concurrency, 50))))  # warm-up pass
            left = requests
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            return (time.perf_counter() - wall) / requests, (time.process_time() - cpu) / requests
    finally:
        await runner.cleanup()


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench-limiter-{uuid.uuid4().hex[:8]}"
    base = Settings(client_token=TOKEN, rate_limit_limit=10**9)
    async with RedisStore(REDIS_URL, prefix=prefix) as store:
        try:
            for concurrency in args.concurrency:
                rows = {}
                for enabled in (False, True):
                    settings = replace(base, rate_limiting_enabled=enabled)
                    rows[enabled] = await run(settings, store, args.requests, concurrency)
                off, on = rows[False], rows[True]
                print(
                    f"concurrency {concurrency:3d}: off {off[0] * 1e6:7.0f} us wall {off[1] * 1e6:6.0f} us CPU | "
                    f"on {on[0] * 1e6:7.0f} us wall {on[1] * 1e6:6.0f} us CPU | "
                    f"limiter +{(on[0] - off[0]) * 1e6:.0f} us wall, +{(on[1] - off[1]) * 1e6:.0f} us CPU per request",
                    flush=True,
                )
        finally:
            redis = Redis.from_url(REDIS_URL)
            doomed = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if doomed:
                await redis.delete(*doomed)
            await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    asyncio.run(main(parser.parse_args()))
