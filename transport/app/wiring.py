"""Wiring: the transports a configuration asks for, the node and the gateway on top of them.

- Embedded (no ``RABBITMQ_URL``/``REDIS_URL``): in-memory broker and store, everything in one
  process.
- Distributed: RabbitMQ mailboxes and the Redis store; ``avtomat node`` runs the actors,
  ``avtomat gateway`` the HTTP gateway, ``avtomat up`` both in one process. Any number of each
  can run against one RabbitMQ and one Redis.
- Pure Holon mode (``PARENT_ORCHESTRATOR_URL``): every process that serves the gateway also runs
  the holon, a worker of the parent orchestrator (``actors.holon``), all under one worker id.

Every node runs the scheduler of ``schedules.toml`` (its leader fires); every gateway lists them.

With ``HISTORY_DATABASE_URI``, the store writes the archive feed (Redis stream, or in memory), every
node runs an archiver that copies it to PostgreSQL, and every gateway reads the archive (ADR 0018).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from actors.archiver import Archiver
from actors.files import NodeFiles, Purges
from actors.holon import Holon, HolonConfig
from actors.holon_loops import HolonLoops
from actors.node import Node
from actors.ports.archive import ArchiveFeed
from actors.ports.broker import Broker
from actors.ports.objects import ObjectStore
from actors.ports.store import Store
from actors.ports.tracing import NO_TRACER
from actors.shards import ShardBalancer
from actors.stats import Stats
from engine import defaults
from engine.errors import ConfigError
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule
from engine.webhooks import WebhookPolicy
from transport.app.archive import open_archive
from transport.app.clients import ClientTable, load_clients
from transport.app.schedules import load_schedules
from transport.app.settings import Settings
from transport.app.workers import load_workers
from transport.gateway import GatewayContext, build_app
from transport.gateway.auth import client_id_of
from transport.job_files import JobFiles
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_archive import MemoryArchiveFeed
from transport.memory_locks import MemoryLocks
from transport.metrics import Sources, serve_metrics
from transport.objects import local_objects, s3_objects
from transport.parent import RxonParent
from transport.rabbitmq import RabbitBroker
from transport.redis_locks import RedisLocks
from transport.redis_store import RedisStore
from transport.redis_store.archive_feed import RedisArchiveFeed
from transport.webhooks import HttpSender

if TYPE_CHECKING:  # imported when configured: asyncpg (the archive), OpenTelemetry (tracing)
    from transport.archive import PostgresArchive
    from transport.tracing import OtelTracer

Clock = Callable[[], float]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    broker: Broker
    store: Store
    node: Node | None
    url: str | None
    holon: HolonLoops | None = None
    archive: PostgresArchive | None = None
    feed: ArchiveFeed | None = None
    stats: Stats | None = None  # what this process counted (actors.stats)
    metrics_url: str | None = None  # METRICS_PORT's listener, if set

    @property
    def kind(self) -> str:
        return "distributed" if self.settings.distributed else "embedded"


def step_policy(settings: Settings) -> StepPolicy:
    return StepPolicy(
        max_step_retries=settings.job_max_retries,
        task_max_attempts=settings.task_max_attempts,
        max_child_depth=settings.max_job_depth,
        backoff_base=settings.retry_backoff_base,
        result_timeout=settings.worker_timeout_seconds,
        dispatch_timeout=settings.dispatch_timeout_seconds,
    )


Transports = tuple[Broker, Store, MemoryLocks | RedisLocks, ArchiveFeed | None]


@asynccontextmanager
async def transports(settings: Settings, clock: Clock = time.time) -> AsyncIterator[Transports]:
    """The broker, store, leader locks and (with ``HISTORY_DATABASE_URI``) the archive feed the
    settings ask for, connected; closed on exit."""
    archived = bool(settings.history_database_uri)
    if not settings.distributed:
        memory_broker = MemoryBroker(settings.job_shards)
        memory_feed = MemoryArchiveFeed() if archived else None
        memory_store = MemoryStore(
            history_limit=settings.job_history_limit,
            priority_aging=settings.task_priority_aging_seconds,
            archive_feed=memory_feed,
        )
        try:
            yield memory_broker, memory_store, MemoryLocks(clock), memory_feed
        finally:
            await memory_broker.close()
            await memory_store.close()
        return
    broker = RabbitBroker(
        settings.rabbitmq_url,
        shards=settings.job_shards,
        queue_type=settings.rabbitmq_queue_type,
        delivery_limit=settings.rabbitmq_delivery_limit,
        prefix=settings.namespace,
    )
    store = RedisStore(
        settings.redis_url,
        prefix=settings.namespace,
        finished_job_ttl=settings.finished_job_ttl_seconds,
        history_limit=settings.job_history_limit,
        priority_aging=settings.task_priority_aging_seconds,
        feed_cap=defaults.ARCHIVE_FEED_CAP if archived else 0,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(broker)
        await stack.enter_async_context(store)
        locks = await stack.enter_async_context(RedisLocks(settings.redis_url, prefix=settings.namespace))
        feed = None
        if archived:
            feed = await stack.enter_async_context(RedisArchiveFeed(settings.redis_url, prefix=settings.namespace))
        await _agree_on_shards(store, settings)
        yield broker, store, locks, feed


async def _agree_on_shards(store: RedisStore, settings: Settings) -> None:
    """Stop a process whose ``JOB_SHARDS`` differs from the namespace's: it would route a job's
    messages to another queue than its peers do, out of order, or to a queue no node consumes."""
    first = await store.pin_setting("JOB_SHARDS", str(settings.job_shards))
    if first != str(settings.job_shards):
        raise ConfigError(
            "JOB_SHARDS",
            f"{settings.job_shards} differs from the {first} namespace {settings.namespace!r} was first started with;"
            " every node and gateway of a namespace must use the same count (changing it needs the mailboxes drained)",
        )


def check_tenancy_files(settings: Settings) -> ClientTable:
    """Read ``clients.toml`` and ``workers.toml`` (``ConfigError`` naming the file, the table and
    the key); returns the clients."""
    if settings.workers_config_path:
        load_workers(settings.workers_config_path)
    return load_clients(settings)


def webhook_sender(settings: Settings) -> HttpSender:
    """The node's webhook sender; warns when a distributed node signs with a secret of its own."""
    if settings.distributed and "WEBHOOK_SECRET" in settings.generated:
        log.warning(
            "WEBHOOK_SECRET is not set: this node signs webhooks with a secret generated for it, which "
            "the other nodes do not share; set WEBHOOK_SECRET on every node"
        )
    return HttpSender(
        settings.webhook_key, allow_private=settings.webhook_allow_private, timeout=settings.webhook_timeout_seconds
    )


def object_store(settings: Settings) -> ObjectStore:
    """S3 when ``S3_ENDPOINT_URL`` is set, else the local directory ``OBJECT_STORE_PATH``."""
    o = settings.objects
    if o.s3:
        return s3_objects(
            endpoint=o.s3_endpoint_url, access_key=o.s3_access_key, secret_key=o.s3_secret_key,
            bucket=o.s3_bucket, region=o.s3_region,
        )  # fmt: skip
    if settings.distributed:
        log.warning("no S3_ENDPOINT_URL: job files live in %s, which every node and gateway must share", o.path)
    return local_objects(o.path)


def job_files(settings: Settings, objects: ObjectStore, store: Store, clock: Clock) -> JobFiles:
    """The object store as jobs and the gateway use it; a job's objects are purged
    ``FINISHED_JOB_TTL_SECONDS`` after it ends (``actors.files``) unless ``S3_AUTO_CLEANUP=false``."""
    o = settings.objects
    purges = Purges(store, clock, after=settings.finished_job_ttl_seconds) if o.auto_cleanup else None
    return JobFiles(objects, inline_limit=o.inline_limit, task_files_dir=o.task_files_dir, purges=purges)


def _balancer(settings: Settings, locks: MemoryLocks | RedisLocks, node_id: str) -> ShardBalancer | None:
    """Distributed nodes split the mailbox shards between them (ADR 0004); embedded has one node."""
    return ShardBalancer(locks, locks, node_id, settings.job_shards) if settings.distributed else None


@asynccontextmanager
async def serve_gateway(
    settings: Settings,
    registry: BlueprintRegistry,
    broker: Broker,
    store: Store,
    clock: Clock,
    files: JobFiles | None = None,
    schedules: Sequence[Schedule] = (),
    archive: PostgresArchive | None = None,
    clients: ClientTable | None = None,
    tracer: OtelTracer | None = None,
    stats: Stats | None = None,
    feed: ArchiveFeed | None = None,
) -> AsyncIterator[str]:
    """Serve the HTTP gateway; yields its base URL. Stops accepting requests on exit.

    ``clients``: those of the settings unless given. With ``TLS_CERT_PATH`` it serves https
    (``transport.app.tls``); the ``METRICS_PORT`` listener, if any, stays plain http. With
    ``WORKERS_CONFIG_PATH`` the gateway publishes its ``workers.toml`` to the store as it starts
    (``transport.gateway.worker_tokens``)."""
    ctx = GatewayContext(
        settings,
        store,
        broker,
        registry,
        clock,
        schedules=tuple(schedules),
        files=files,
        archive=archive,
        clients=clients,
        tracer=tracer,
        stats=Stats() if stats is None else stats,
        feed=feed,
    )
    app = build_app(ctx)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        tls = settings.tls.server_context()  # TLS_CERT_PATH: https, with client certificates if asked
        site = web.TCPSite(runner, settings.api_host, settings.api_port, ssl_context=tls)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.api_port
        yield f"{'https' if tls else 'http'}://{settings.api_host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def runtime(
    settings: Settings,
    registry: BlueprintRegistry,
    *,
    node: bool = True,
    gateway: bool = True,
    clock: Clock = time.time,
    schedules: Sequence[Schedule] | None = None,
    tracer: OtelTracer | None = None,
) -> AsyncIterator[Runtime]:
    """Start what is asked for; on exit the holon (if any) stops first, then the gateway, then
    the node, then the transports, then the tracer (its spans flushed).

    ``tracer``: the one ``OTEL_EXPORTER_OTLP_ENDPOINT`` asks for unless given (a test's, exporting
    in memory); None and no endpoint: tracing off.

    ``schedules``: those of ``SCHEDULES_CONFIG_PATH`` unless given (``ConfigError`` before anything
    starts if the file is wrong)."""
    if schedules is None:
        schedules = load_schedules(settings, registry)
    if gateway and settings.metrics_port and settings.metrics_port == settings.api_port:
        raise ConfigError("METRICS_PORT", f"{settings.metrics_port} is API_PORT too: set one or the other")
    stats = Stats()  # one per process: its node's actors and its gateway count into it
    # clients.toml and workers.toml are checked before anything starts, as schedules.toml is.
    clients = check_tenancy_files(settings) if gateway else None
    async with AsyncExitStack() as stack:
        tracer = tracer or settings_tracer(settings, stack)
        broker, store, locks, feed = await stack.enter_async_context(transports(settings, clock))
        archive = await stack.enter_async_context(open_archive(settings))
        objects = object_store(settings)
        stack.push_async_callback(objects.close)
        files = job_files(settings, objects, store, clock)
        purge_after = settings.finished_job_ttl_seconds if settings.objects.auto_cleanup else None
        running: Node | None = None
        if node:
            node_id = f"{settings.instance_id}:{os.getpid()}"  # unique even if INSTANCE_ID is shared
            archiver = None
            if feed is not None and archive is not None:
                retention = settings.history_retention_days * 86400.0
                archiver = Archiver(feed, archive, clock, consumer=node_id, retention=retention)
            sender = await stack.enter_async_context(webhook_sender(settings))
            running = await stack.enter_async_context(
                Node(
                    registry=registry,
                    store=store,
                    broker=broker,
                    policy=step_policy(settings),
                    sender=sender,
                    clock=clock,
                    max_concurrent_jobs=settings.executor_max_concurrent_jobs,
                    locks=locks,
                    instance_id=node_id,
                    balancer=_balancer(settings, locks, node_id),
                    reservation_seconds=settings.router_reservation_seconds,
                    schedules=schedules,
                    webhook_policy=WebhookPolicy(max_age=settings.webhook_max_age_seconds),
                    webhook_concurrency=settings.webhook_concurrency,
                    webhook_timeout=settings.webhook_timeout_seconds,
                    files=NodeFiles(objects, files, purge_after),
                    archiver=archiver,
                    tracer=tracer or NO_TRACER,
                    stats=stats,
                )
            )
        url, holon = None, None
        if gateway:
            served = serve_gateway(
                settings, registry, broker, store, clock, files, schedules, archive, clients, tracer, stats, feed
            )
            url = await stack.enter_async_context(served)
            holon = await stack.enter_async_context(serve_holon(settings, registry, broker, store, clock, stats))
        metrics_url = None
        if settings.metrics_port:
            sources = Sources(stats, store, broker, clock, feed=feed)
            metrics_url = await stack.enter_async_context(
                serve_metrics(settings.api_host, settings.metrics_port, sources)
            )
        yield Runtime(settings, broker, store, running, url, holon, archive, feed, stats, metrics_url)


def settings_tracer(settings: Settings, stack: AsyncExitStack) -> OtelTracer | None:
    """The tracer exporting to ``OTEL_EXPORTER_OTLP_ENDPOINT``, closed (flushed) with ``stack``;
    None when it is unset. The flush runs on a thread: a collector that is down delays the stop by
    up to the exporter's timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s) without blocking the loop."""
    if not settings.otel_endpoint:
        return None
    from transport.tracing import otlp_tracer  # noqa: PLC0415 (OTel SDK and exporter, 28 MiB: only when on)

    tracer = otlp_tracer(settings.otel_endpoint, settings.otel_service_name, instance=settings.instance_id)
    stack.push_async_callback(asyncio.to_thread, tracer.close)
    return tracer


@asynccontextmanager
async def serve_holon(
    settings: Settings,
    registry: BlueprintRegistry,
    broker: Broker,
    store: Store,
    clock: Clock,
    stats: Stats | None = None,
) -> AsyncIterator[HolonLoops | None]:
    """Pure Holon mode: work for the parent orchestrator of ``settings.parent`` (None: not set)."""
    parent = settings.parent
    if parent is None:
        yield None
        return
    config = HolonConfig(
        client_id=client_id_of(settings.client_token),
        capacity=parent.max_concurrent_tasks,
        heartbeat_interval=parent.heartbeat_interval,
        max_transitions=settings.max_transitions_per_job,
    )
    link = RxonParent(
        parent.url,
        parent.worker_id,
        parent.worker_token,
        secret=parent.secret_key,
        clock=clock,
        ssl_context=parent.ssl_context(),
    )
    async with link, HolonLoops(Holon(link, registry, store, broker, config, clock, stats), broker) as loops:
        yield loops
