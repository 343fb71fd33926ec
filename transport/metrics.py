"""``/_public/metrics``: what this process counted, in Prometheus's text format (ADR 0020).

The actors and the gateway count into ``actors.stats.Stats`` (plain increments); the adapters keep
their own (``RabbitBroker.counts`` and ``.confirms``, ``RedisStore.round_trips``, the gateway's
``BlockedCounter``). Nothing is registered in prometheus-client's global registry: each scrape
reads those objects into a fresh ``CollectorRegistry`` and renders it. The gauges that live in the
store (queue depth per skill, workers by status, the archive feed's length and age) are read first, at
most ``timeout`` seconds; if the store does not answer in time they are left out and
``orchestrator_store_up`` is 0, and the counters are still served.

Served by every gateway at ``/_public/metrics``, and by any process with ``METRICS_PORT`` set on a
listener of its own (``serve_metrics``: a node without the gateway).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.ports.archive import ArchiveFeed
from actors.ports.broker import Broker
from actors.ports.store import Store
from actors.stats import Histogram, Histograms, Stats
from engine.errors import Unavailable
from transport.frames import FrameCounts
from transport.rabbitmq import RabbitBroker
from transport.redis_store import RedisStore

log = logging.getLogger(__name__)

PATH = "/_public/metrics"
SCRAPE_READ_TIMEOUT = 2.0  # seconds the store-read gauges may take before a scrape goes without them


@dataclass(frozen=True, slots=True)
class Sources:
    """Where one process's metrics come from; ``blocked`` is the gateway's (None on a bare node)."""

    stats: Stats
    store: Store
    broker: Broker
    clock: Callable[[], float]
    blocked: Mapping[str, int] | None = None  # BlockedCounter.by_class
    feed: ArchiveFeed | None = None
    timeout: float = SCRAPE_READ_TIMEOUT


@dataclass(slots=True)
class _Gauges:
    depths: dict[str, int] = field(default_factory=dict)
    workers: Counter[str] = field(default_factory=Counter)
    feed: int | None = None
    lag: float | None = None  # seconds the oldest feed entry has waited
    up: bool = False


async def _read_gauges(sources: Sources) -> _Gauges:
    """The store's gauges, read now: skills are those of live workers and those this process routed."""
    gauges = _Gauges()
    workers = await sources.store.list_workers(sources.clock())
    gauges.workers.update(w.status for w in workers)
    skills = {skill for w in workers for skill in w.skills} | sources.stats.skills
    skills |= sources.stats.dispatch_to_start.keys()
    gauges.depths = await sources.store.queue_depths(sorted(skills))
    if sources.feed is not None:
        gauges.feed, gauges.lag = await sources.feed.length(), await sources.feed.oldest_age()
    gauges.up = True
    return gauges


async def exposition(sources: Sources) -> bytes:
    """The metrics of ``sources`` now, in the Prometheus text format 0.0.4 (every name is a legacy one)."""
    try:
        async with asyncio.timeout(sources.timeout):
            gauges = await _read_gauges(sources)
    except (TimeoutError, Unavailable) as exc:
        log.warning("metrics: the store's gauges are left out of this scrape (%s)", exc or "timed out")
        gauges = _Gauges()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(sources, gauges))
    return generate_latest(registry)


class _Collector(Collector):
    def __init__(self, sources: Sources, gauges: _Gauges) -> None:
        self._sources, self._gauges = sources, gauges

    def collect(self) -> Iterable[Metric]:
        stats = self._sources.stats
        yield _counter("orchestrator_jobs_created", "Jobs stored, by blueprint.", ["blueprint"], stats.jobs_created)
        yield _counter(
            "orchestrator_jobs_ended", "Jobs that reached a terminal status.", ["blueprint", "status"], stats.jobs_ended
        )
        yield _counter("orchestrator_job_transitions", "State transitions committed.", ["blueprint"], stats.transitions)
        pickups = stats.dispatch_to_start
        yield _histograms("orchestrator_task_dispatch_to_start_seconds", "Dispatch to pickup.", "skill", pickups)
        yield _histograms("orchestrator_task_run_seconds", "From pickup to result.", "skill", stats.task_run)
        yield _histograms(
            "orchestrator_job_duration_seconds", "From submit to a terminal status.", "blueprint", stats.job_duration
        )
        yield _counter("orchestrator_routing_decisions", "Task offers routed.", ["kind"], stats.routed)
        yield _counter(
            "orchestrator_scheduler_jobs_triggered", "Schedule fires made.", ["schedule"], stats.scheduler_fires
        )
        webhooks = stats.webhooks
        yield _counter("orchestrator_webhook_deliveries", "Webhook attempts, dead deliveries.", ["outcome"], webhooks)
        sts = stats.sts_tokens
        yield _counter("orchestrator_sts_tokens_issued", "STS access tokens issued, by grant.", ["grant"], sts)
        yield from self._adapters()
        yield from self._store_gauges()

    def _adapters(self) -> Iterator[Metric]:
        broker, store = self._sources.broker, self._sources.store
        if isinstance(broker, RabbitBroker):
            yield from _frames(broker.counts)
            yield _histogram("orchestrator_broker_confirm_seconds", "From publish to confirm.", broker.confirms)
        if isinstance(store, RedisStore):
            yield _histogram("orchestrator_store_round_trip_seconds", "One pipelined batch.", store.round_trips)
        if self._sources.blocked is not None:
            blocked = self._sources.blocked
            yield _counter("orchestrator_ratelimit_blocked", "Requests refused by a limit.", ["kind"], blocked)

    def _store_gauges(self) -> Iterator[Metric]:
        g = self._gauges
        yield _gauge(
            "orchestrator_store_up", "1 if the store answered this scrape's reads in time.", [], {(): int(g.up)}
        )
        if not g.up:
            return
        yield _gauge("orchestrator_task_queue_depth", "Tasks waiting per skill.", ["skill"], g.depths)
        yield _gauge("orchestrator_workers", "Live workers by status.", ["status"], g.workers)
        if g.feed is not None:
            yield _gauge("orchestrator_archive_feed_entries", "Job writes not yet archived.", [], {(): g.feed})
            lag = {(): g.lag or 0.0}
            yield _gauge("orchestrator_archive_lag_seconds", "Age of the oldest write not yet archived.", [], lag)


def _label_values(key: str | tuple[str, ...]) -> list[str]:
    return [key] if isinstance(key, str) else list(key)


def _counter(name: str, doc: str, labels: list[str], values: Mapping[Any, int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(_label_values(key), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], values: Mapping[Any, float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(_label_values(key), value)
    return family


def _buckets(h: Histogram) -> list[tuple[str, float]]:
    return [("+Inf" if math.isinf(bound) else repr(float(bound)), count) for bound, count in h.cumulative()]


def _histograms(name: str, doc: str, label: str, histograms: Histograms) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=[label])
    for value, h in histograms.items():
        family.add_metric([value], _buckets(h), h.sum)
    return family


def _histogram(name: str, doc: str, h: Histogram) -> Metric:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], _buckets(h), h.sum)
    return family


def _frames(counts: FrameCounts) -> Iterator[Metric]:
    frames = {"published": counts.frames_published, "consumed": counts.frames_consumed}
    envelopes = {"published": counts.envelopes_published, "consumed": counts.envelopes_consumed}
    yield _counter("orchestrator_mailbox_frames", "AMQP messages (frames) on the mailboxes.", ["direction"], frames)
    yield _counter("orchestrator_mailbox_envelopes", "Envelopes carried by those frames.", ["direction"], envelopes)


def metrics_handler(sources: Sources) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=await exposition(sources), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return metrics


@asynccontextmanager
async def serve_metrics(host: str, port: int, sources: Sources) -> AsyncIterator[str]:
    """Serve ``PATH`` alone on ``host``:``port`` (``METRICS_PORT``); yields the base URL."""
    app = web.Application()
    app.router.add_get(PATH, metrics_handler(sources))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
