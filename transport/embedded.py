"""The embedded runtime: the whole system in one process (in-memory broker and store, the
actors, the HTTP gateway). What ``avtomat up`` runs with no RabbitMQ/Redis configured."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from actors.node import Node
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore
from transport.webhooks import HttpNotifier


@dataclass(frozen=True, slots=True)
class Runtime:
    url: str
    settings: Settings
    broker: MemoryBroker
    store: MemoryStore
    node: Node


def step_policy(settings: Settings) -> StepPolicy:
    return StepPolicy(
        max_step_retries=settings.job_max_retries,
        task_max_attempts=settings.task_max_attempts,
        backoff_base=settings.retry_backoff_base,
        result_timeout=settings.worker_timeout_seconds,
        dispatch_timeout=settings.dispatch_timeout_seconds,
    )


@asynccontextmanager
async def embedded(
    settings: Settings, registry: BlueprintRegistry, clock: Callable[[], float] = time.time
) -> AsyncIterator[Runtime]:
    """Start everything; on exit stop the HTTP server first, then the actors."""
    broker, store = MemoryBroker(settings.job_shards), MemoryStore()
    async with HttpNotifier() as notifier, Node(
        registry=registry,
        store=store,
        broker=broker,
        policy=step_policy(settings),
        notifier=notifier,
        clock=clock,
        max_concurrent_jobs=settings.executor_max_concurrent_jobs,
    ) as node:
        app = build_app(GatewayContext(settings, store, broker, registry, clock))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.api_host, settings.api_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.api_port
        try:
            yield Runtime(f"http://{settings.api_host}:{port}", settings, broker, store, node)
        finally:
            await runner.cleanup()
