"""Upstream avtomatika's orchestrator with the benchmark blueprints, for ``bench.targets``.

Run with the upstream venv's python (``python bench/upstream/app.py``); it imports nothing of
avtomat. Configured by upstream's own environment variables (``Config``) plus ``BENCH_REDIS_URL``,
a Redis database of its own: flushed before the engine starts and after it stops, because upstream
keeps every key (stream, consumer group, job states) forever. Runs until SIGTERM or SIGINT.
"""

import asyncio
import logging
import os
import signal

import redis.asyncio as redis
from avtomatika import OrchestratorEngine, RedisStorage
from avtomatika.app_keys import (
    EXECUTOR_KEY,
    HEALTH_CHECKER_KEY,
    REPUTATION_CALCULATOR_KEY,
    SCHEDULER_KEY,
    WATCHER_KEY,
)
from avtomatika.config import Config
from flows import ALL


async def serve(redis_url):
    client = redis.Redis.from_url(redis_url)
    await client.flushdb()
    engine = OrchestratorEngine(RedisStorage(client), Config())
    # upstream sets the root logger to DEBUG whatever LOG_LEVEL says; every library's debug
    # records would then go through its log queue
    logging.getLogger().setLevel(logging.WARNING)
    for blueprint in ALL:
        engine.register_blueprint(blueprint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await engine.start()
        await stop.wait()
    finally:
        # on_shutdown stops the engine's own executor, watcher etc., not the ones on_startup put in
        # the app; the app's executor swallows the cancellation, so shutdown would wait out its 10 s
        # timeout (and the suite kill it first). Stop those first.
        for key in (EXECUTOR_KEY, WATCHER_KEY, HEALTH_CHECKER_KEY, SCHEDULER_KEY, REPUTATION_CALCULATOR_KEY):
            if key in engine.app:
                engine.app[key].stop()
        await engine.stop()
        await client.flushdb()
        await client.aclose()
        engine.log_manager.stop()


if __name__ == "__main__":
    asyncio.run(serve(os.environ["BENCH_REDIS_URL"]))
