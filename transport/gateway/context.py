"""What every gateway handler works with: settings, store, broker, blueprints, the clock, the
schedules and the archive."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from actors.ports.archive import ArchiveFeed, ArchiveReader
from actors.ports.broker import Broker
from actors.ports.store import Store
from actors.stats import Stats
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule
from transport.app.clients import ClientTable, load_clients
from transport.app.settings import Settings
from transport.gateway.limits import BlockedCounter, Limiter
from transport.gateway.sts import TokenService
from transport.gateway.worker_tokens import WorkerDirectory
from transport.job_files import JobFiles

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on (transport.app.wiring)
    from transport.tracing import OtelTracer


@dataclass(frozen=True)
class GatewayContext:
    """The gateway's dependencies. ``clock`` returns epoch seconds and is the one clock used for
    job timestamps, worker expiry, signature freshness, long-poll deadlines, signed links, rate
    limits, quota windows and the worker token cache."""

    settings: Settings
    store: Store
    broker: Broker
    registry: BlueprintRegistry
    clock: Callable[[], float] = time.time
    schedules: tuple[Schedule, ...] = ()  # those of schedules.toml, for GET /api/v1/schedules
    files: JobFiles | None = None  # the object store; None: the file routes answer 501
    archive: ArchiveReader | None = None  # HISTORY_DATABASE_URI: jobs whose store copy has gone
    clients: ClientTable | None = None  # None: load_clients(settings)
    client_table: ClientTable = field(init=False)  # ``clients``, or those the settings name
    blocked: BlockedCounter = field(default_factory=BlockedCounter)
    tracer: OtelTracer | None = None  # OTEL_EXPORTER_OTLP_ENDPOINT: a span per client API request
    stats: Stats = field(default_factory=Stats)  # the process's counts (its node's too, with ``avtomat up``)
    feed: ArchiveFeed | None = None  # the archive feed, for its length in the metrics
    limiter: Limiter = field(init=False)
    workers: WorkerDirectory = field(init=False)
    sts: TokenService = field(init=False)

    def __post_init__(self) -> None:
        """The clients (read from ``CLIENTS_CONFIG_PATH`` unless given), the limiter, the worker
        token directory and the STS token service, all built from the other fields."""
        object.__setattr__(self, "client_table", self.clients or load_clients(self.settings))
        object.__setattr__(self, "limiter", Limiter(self.store, self.settings, self.blocked))
        object.__setattr__(self, "workers", WorkerDirectory(self.store, self.settings.workers_config_path, self.clock))
        s = self.settings
        sts = TokenService(
            self.store, s.orchestrator_secret_key, s.sts_access_token_ttl_seconds, s.sts_refresh_token_ttl_seconds
        )
        object.__setattr__(self, "sts", sts)


CONTEXT = web.AppKey("gateway_context", GatewayContext)


def context_of(request: web.Request) -> GatewayContext:
    return request.app[CONTEXT]
