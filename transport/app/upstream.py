"""Upstream avtomatika's environment variables that avtomat accepts and ignores, for now.

A user migrating from avtomatika keeps their environment; each of these that is set gets one
warning at start-up (``avtomat up``/``node``/``gateway``) naming the variable and what avtomat
does instead, so nothing is ignored silently. The variables avtomat honours are the ones
``Settings.from_env`` reads (README, "Configuration"); the README lists these beside them.
Worker-side variables (``WORKER_ID``, ``HEARTBEAT_INTERVAL``, ...) belong to the worker SDK and
are not listed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

_URLS = "set REDIS_URL and RABBITMQ_URL instead (both: the distributed runtime)"
_UNUSED = "not used (upstream's orchestrator does not use it either)"
_S3 = "each upload streams with at most two 5 MiB parts in flight; no global limit"
_REPUTATION = "no worker reputation: the router picks a worker hot for the task, then the least loaded"
_OTEL = "no OpenTelemetry metrics export: traces only (OTEL_EXPORTER_OTLP_ENDPOINT)"
_WATCHER = "no polling watcher: the timeouts actor fires each deadline when it falls due"

# (variable, what avtomat does instead), in upstream's order (avtomatika/config.py).
IGNORED: tuple[tuple[str, str], ...] = (
    ("REDIS_HOST", _URLS),
    ("REDIS_PORT", _URLS),
    ("REDIS_DB", _URLS),
    ("POSTGRES_DSN", _UNUSED),
    ("CLIENT_API_PREFIX", "the client API is always under /api/v1"),
    ("AUDIT_SALT", _UNUSED),
    ("WATCHER_INTERVAL_SECONDS", _WATCHER),
    ("WATCHER_LIMIT", _WATCHER),
    ("STRICT_EVENT_VALIDATION", _UNUSED),
    ("REPUTATION_PENALTY_CONTRACT_VIOLATION", _REPUTATION),
    ("REPUTATION_PENALTY_TASK_FAILURE", _REPUTATION),
    ("REPUTATION_REWARD_SUCCESS", _REPUTATION),
    ("REPUTATION_MIN_THRESHOLD", _REPUTATION),
    ("REDIS_STREAM_BLOCK_MS", "no Redis streams: jobs travel on RabbitMQ (or in memory)"),
    ("REDIS_ENCRYPTION_KEY", "worker tokens are kept as SHA-256 digests only: nothing to encrypt"),
    ("S3_MAX_CONCURRENCY", _S3),
    ("DISPATCHER_SOFT_LIMIT", "the router reserves each task for one worker (ROUTER_RESERVATION_SECONDS)"),
    ("DISPATCHER_MAX_CANDIDATES", "the router considers every worker with the task's skill"),
    ("WORK_STEALING_ENABLED", "a reserved task goes to any capable worker once ROUTER_RESERVATION_SECONDS lapse"),
    ("MAX_POLICY_SIZE_BYTES", "a job's policy is not read; MAX_REQUEST_BODY_BYTES bounds the whole body"),
    ("DETAILED_API_RESPONSES", "GET /api/v1/jobs/{id} always answers the same fields; the history is at /history"),
    ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", _OTEL),
)


def ignored(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(variable, what avtomat does instead)`` of each ``IGNORED`` variable set (non-blank)
    in ``env``, in ``IGNORED``'s order."""
    return [(name, instead) for name, instead in IGNORED if env.get(name, "").strip()]


def warn_ignored(env: Mapping[str, str]) -> list[str]:
    """Log one warning per ignored upstream variable set in ``env``; returns their names."""
    found = ignored(env)
    for name, instead in found:
        log.warning("%s is set but avtomat ignores it: %s", name, instead)
    return [name for name, _ in found]
