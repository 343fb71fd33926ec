"""What every gateway handler works with: settings, store, broker, blueprints, the clock, the
schedules and the archive."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from actors.ports.archive import ArchiveReader
from actors.ports.broker import Broker
from actors.ports.store import Store
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule
from transport.app.settings import Settings
from transport.job_files import JobFiles


@dataclass(frozen=True)
class GatewayContext:
    """The gateway's dependencies. ``clock`` returns epoch seconds and is the one clock used for
    job timestamps, worker expiry, signature freshness, long-poll deadlines and signed links."""

    settings: Settings
    store: Store
    broker: Broker
    registry: BlueprintRegistry
    clock: Callable[[], float] = time.time
    schedules: tuple[Schedule, ...] = ()  # those of schedules.toml, for GET /api/v1/schedules
    files: JobFiles | None = None  # the object store; None: the file routes answer 501
    archive: ArchiveReader | None = None  # HISTORY_DATABASE_URI: jobs whose store copy has gone


CONTEXT = web.AppKey("gateway_context", GatewayContext)


def context_of(request: web.Request) -> GatewayContext:
    return request.app[CONTEXT]
