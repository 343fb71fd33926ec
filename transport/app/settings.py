"""One frozen settings object, read from environment variables and validated at start-up.

Variable names follow upstream avtomatika where it has one.

Defaults live in ``engine/defaults.py``, one line each.

``TASK_LEASE_SECONDS`` is how long a task handed to a worker stays its own without a heartbeat
that lists it. The SDK heartbeats every ``HEARTBEAT_INTERVAL`` (15 s by default) and again,
debounced, when a task starts or finishes, so a 60 s lease tolerates three missed beats; a
worker gone for longer loses the task to another worker (docs/adr/0005-task-leases.md). Keep it
several times the workers' heartbeat interval.

``ROUTER_RESERVATION_SECONDS`` is how long the router's chosen worker has a queued task to itself
before any capable worker may take it (docs/adr/0006-routing-by-reservation.md). Keep it above a
worker's poll round trip and well below ``DISPATCH_TIMEOUT_SECONDS``.

``PICKUP_ANNOUNCE_DELAY_SECONDS`` is how long a task's pickup (``TaskStarted``) waits at the
gateway for the task's result before it is published; a result accepted meanwhile stands in for
it (``transport/gateway/announcer.py``). 0 announces every pickup at once.

``TASK_PRIORITY_AGING_SECONDS`` is what one unit of ``dispatch_task(priority=)`` is worth in
seconds of waiting: a queued task is served before any task of its skill queued more
than ``(its priority - theirs) * TASK_PRIORITY_AGING_SECONDS`` after it, so higher priorities go
first among tasks queued close together, and no task waits behind newer ones forever. Larger
values come closer to strict priority.

``SCHEDULES_CONFIG_PATH`` names ``schedules.toml`` (read at start-up by
``transport/app/schedules.py``); ``TZ`` is the IANA time zone of the schedules that name none,
and of the log lines' timestamps.

``LOG_FORMAT`` defaults to ``json`` when ``ENVIRONMENT`` is production, ``text`` otherwise.
``OTEL_EXPORTER_OTLP_ENDPOINT`` (an http or https base URL) turns tracing on: spans go there over
OTLP/HTTP, as the service ``OTEL_SERVICE_NAME`` (ADR 0021); unset, nothing is traced.

``RABBITMQ_URL`` and ``REDIS_URL`` go together: both set is the distributed runtime, neither the
embedded one; only one of them is a ``ConfigError`` naming both, never a silent fall-back.

``ENABLE_CLIENT_API=false`` and the ``PARENT_*`` variables are Pure Holon mode (ADR 0016):
``PARENT_ORCHESTRATOR_URL`` (http or https) makes the gateway process a worker of that parent,
which needs ``PARENT_WORKER_TOKEN``; the other ``PARENT_*`` variables without the URL are a
``ConfigError`` (they would do nothing). Every holon process of a deployment shares one
``PARENT_WORKER_ID`` (default: ``AVTOMAT_NAMESPACE``), so any of them may answer any task.
``WEBHOOK_SECRET`` keys the webhook signatures (``transport/webhook_signing.py``: a
``whsec_<base64>`` secret, or any string of at least 16 bytes). Required in production; otherwise
generated per process when unset (listed in ``generated``, shown in the node's banner), which
only suits one node: nodes that sign with different secrets cannot all be verified.
``WEBHOOK_ALLOW_PRIVATE`` lets webhook URLs reach private and loopback addresses; it defaults to
true in development only.

``HISTORY_DATABASE_URI`` (``postgresql://``) turns the job archive on (ADR 0018): every node
archives, every gateway reads from it; ``HISTORY_RETENTION_DAYS`` (0: forever) bounds it. The
database is reached, and its schema migrated, at start-up.
``CLIENTS_CONFIG_PATH`` and ``WORKERS_CONFIG_PATH`` name ``clients.toml`` and ``workers.toml``
(``transport/app/clients.py``, ``transport/app/workers.py``); with one of them set, ``CLIENT_TOKEN``
(or ``GLOBAL_WORKER_TOKEN``) is optional, and not made up when unset. ``RATE_LIMITING_ENABLED`` and
the ``RATE_LIMIT_*`` variables are the gateway's rate limits (``transport/gateway/limits.py``).

``TLS_CERT_PATH``/``TLS_KEY_PATH`` serve the gateway over TLS, ``TLS_CA_PATH`` and
``TLS_REQUIRE_CLIENT_CERT`` ask clients for certificates, ``WORKER_AUTH_MODE`` says what identifies a
worker (``transport/app/tls.py``); ``STS_*`` bound the SDK's access and refresh tokens (ADR 0024).

A bad value raises ``ConfigError`` naming the variable, so ``avtomat up`` stops with a clear
message instead of half-starting. Upstream avtomatika's variables that avtomat ignores are listed
in ``transport/app/upstream.py``.
"""

from __future__ import annotations

import math
import re
import secrets
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import defaults
from engine.errors import ConfigError
from transport.app.object_settings import ObjectSettings
from transport.app.tls import TlsSettings, client_context
from transport.webhook_signing import generate_secret, key_of

T = TypeVar("T")

DEFAULT_BLUEPRINTS_DIR = str(Path(__file__).resolve().parents[2] / "blueprints")
GATEWAY_SECRETS = ("CLIENT_TOKEN", "GLOBAL_WORKER_TOKEN", "ORCHESTRATOR_SECRET_KEY")  # every gateway shares them
DEVELOPMENT = ("development", "dev")


@dataclass(frozen=True, slots=True)
class ParentSettings:
    """Pure Holon mode: the parent orchestrator this one is a worker of."""

    url: str
    worker_token: str
    secret_key: str = ""  # the parent's ORCHESTRATOR_SECRET_KEY: task signatures are checked when set
    worker_id: str = defaults.NAMESPACE
    max_concurrent_tasks: int = defaults.PARENT_MAX_CONCURRENT_TASKS
    heartbeat_interval: float = defaults.PARENT_HEARTBEAT_INTERVAL
    tls_ca_path: str = ""  # a parent on HTTPS: the CA its certificate is signed by, beside the system's
    tls_cert_path: str = ""  # and this orchestrator's client certificate and key (the parent's mTLS)
    tls_key_path: str = ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """The link's TLS context; None: the system's CAs, no client certificate."""
        return client_context(self.tls_ca_path, self.tls_cert_path, self.tls_key_path, "PARENT_")


@dataclass(frozen=True, slots=True)
class Settings:
    api_host: str = defaults.API_HOST
    api_port: int = defaults.API_PORT
    metrics_port: int = defaults.METRICS_PORT  # 0: no listener of its own (the gateway's route still serves)
    client_token: str = ""
    global_worker_token: str = ""
    orchestrator_secret_key: str = ""
    blueprints_dir: str = DEFAULT_BLUEPRINTS_DIR
    environment: str = defaults.ENVIRONMENT
    instance_id: str = defaults.INSTANCE_ID
    job_max_retries: int = defaults.JOB_MAX_RETRIES
    task_max_attempts: int = defaults.TASK_MAX_ATTEMPTS
    retry_backoff_base: float = defaults.RETRY_BACKOFF_BASE_SECONDS
    max_transitions_per_job: int = defaults.MAX_TRANSITIONS_PER_JOB
    max_job_depth: int = defaults.MAX_HOLARCHY_DEPTH
    job_history_limit: int = defaults.JOB_HISTORY_LIMIT
    worker_timeout_seconds: float = defaults.WORKER_TIMEOUT_SECONDS
    dispatch_timeout_seconds: float | None = None
    worker_poll_timeout_seconds: float = defaults.WORKER_POLL_TIMEOUT_SECONDS
    task_lease_seconds: float = defaults.TASK_LEASE_SECONDS
    router_reservation_seconds: float = defaults.ROUTER_RESERVATION_SECONDS
    pickup_announce_delay_seconds: float = defaults.PICKUP_ANNOUNCE_DELAY_SECONDS
    task_priority_aging_seconds: float = defaults.TASK_PRIORITY_AGING_SECONDS
    worker_health_check_interval_seconds: float = defaults.WORKER_HEALTH_CHECK_INTERVAL_SECONDS
    executor_max_concurrent_jobs: int = defaults.EXECUTOR_MAX_CONCURRENT_JOBS
    max_request_body_bytes: int = defaults.MAX_REQUEST_BODY_BYTES
    job_shards: int = defaults.JOB_SHARDS
    namespace: str = defaults.NAMESPACE
    rabbitmq_url: str = ""
    redis_url: str = ""
    rabbitmq_queue_type: str = defaults.RABBITMQ_QUEUE_TYPE
    rabbitmq_delivery_limit: int = defaults.RABBITMQ_DELIVERY_LIMIT
    finished_job_ttl_seconds: float = defaults.FINISHED_JOB_TTL_SECONDS
    log_level: str = defaults.LOG_LEVEL
    log_format: str = defaults.LOG_FORMAT
    otel_endpoint: str = ""  # OTEL_EXPORTER_OTLP_ENDPOINT; empty: tracing off
    otel_service_name: str = defaults.OTEL_SERVICE_NAME
    schedules_config_path: str = ""
    timezone: str = defaults.TIMEZONE
    enable_client_api: bool = defaults.ENABLE_CLIENT_API
    clients_config_path: str = ""
    workers_config_path: str = ""
    rate_limiting_enabled: bool = defaults.RATE_LIMITING_ENABLED
    rate_limit_limit: int = defaults.RATE_LIMIT_LIMIT
    rate_limit_period: float = defaults.RATE_LIMIT_PERIOD
    rate_limit_poll_limit: int = defaults.RATE_LIMIT_POLL_LIMIT
    rate_limit_heartbeat_limit: int = defaults.RATE_LIMIT_HEARTBEAT_LIMIT
    parent: ParentSettings | None = None
    webhook_secret: str = field(default_factory=generate_secret)
    webhook_max_age_seconds: float = defaults.WEBHOOK_MAX_AGE_SECONDS
    webhook_allow_private: bool = True  # the default environment is development
    webhook_timeout_seconds: float = defaults.WEBHOOK_TIMEOUT_SECONDS
    webhook_concurrency: int = defaults.WEBHOOK_CONCURRENCY
    objects: ObjectSettings = field(default_factory=ObjectSettings)
    history_database_uri: str = ""
    history_retention_days: int = defaults.HISTORY_RETENTION_DAYS
    tls: TlsSettings = field(default_factory=TlsSettings)  # TLS_*, WORKER_AUTH_MODE (transport/app/tls.py)
    sts_access_token_ttl_seconds: int = defaults.STS_ACCESS_TOKEN_TTL_SECONDS
    sts_refresh_token_ttl_seconds: int = defaults.STS_REFRESH_TOKEN_TTL_SECONDS
    generated: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        """Raise ``ConfigError`` when only one of ``RABBITMQ_URL`` and ``REDIS_URL`` is set."""
        if bool(self.rabbitmq_url) != bool(self.redis_url):
            given, missing = ("RABBITMQ_URL", "REDIS_URL") if self.rabbitmq_url else ("REDIS_URL", "RABBITMQ_URL")
            raise ConfigError(
                missing,
                f"is not set but {given} is: the distributed runtime needs both RABBITMQ_URL and REDIS_URL "
                "(set neither for the embedded runtime)",
            )

    @property
    def distributed(self) -> bool:
        """RabbitMQ and Redis are configured: run the distributed runtime."""
        return bool(self.rabbitmq_url and self.redis_url)

    @property
    def worker_ttl(self) -> float:
        return 2 * self.worker_health_check_interval_seconds

    @property
    def webhook_key(self) -> bytes:
        """The HMAC key of webhook signatures (``WEBHOOK_SECRET``, checked by ``from_env``)."""
        return key_of(self.webhook_secret)

    def require_shared_secrets(self) -> None:
        """A gateway on the distributed runtime must share its tokens with every other gateway:
        raise ``ConfigError`` naming the first one that was generated for this run."""
        shared = [name for name in self.generated if name in GATEWAY_SECRETS]
        if self.distributed and shared:
            raise ConfigError(shared[0], "must be set on the distributed runtime: every gateway must share it")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``env``; missing tokens are generated (and listed in ``generated``)
        except in production, where they are required."""
        r, d = _Reader(env), cls()
        environment = r.get("ENVIRONMENT", str, r.get("ENV", str, d.environment)).lower()
        production = environment in ("production", "prod")
        generated: list[str] = []

        clients_path = r.get("CLIENTS_CONFIG_PATH", _file, "")
        workers_path = r.get("WORKERS_CONFIG_PATH", _file, "")

        def token(name: str, optional: bool = False) -> str:
            value = r.get(name, str, "")
            if value or optional:  # a config file names the clients (or workers): no token is made up
                return value
            if production:
                raise ConfigError(name, "must be set when ENVIRONMENT is production")
            generated.append(name)
            return secrets.token_urlsafe(24)

        def webhook_secret() -> str:
            raw = env.get("WEBHOOK_SECRET", "").strip()
            if raw:
                try:
                    key_of(raw)
                except ValueError as exc:  # the value is a secret: not shown
                    raise ConfigError("WEBHOOK_SECRET", str(exc)) from None
                return raw
            if production:
                raise ConfigError("WEBHOOK_SECRET", "must be set when ENVIRONMENT is production")
            generated.append("WEBHOOK_SECRET")
            return generate_secret()

        settings = cls(
            api_host=r.get("API_HOST", str, d.api_host),
            api_port=r.get("API_PORT", _port, d.api_port),
            metrics_port=r.get("METRICS_PORT", _port, d.metrics_port),
            client_token=token("CLIENT_TOKEN", optional=bool(clients_path)),
            global_worker_token=token("GLOBAL_WORKER_TOKEN", optional=bool(workers_path)),
            orchestrator_secret_key=token("ORCHESTRATOR_SECRET_KEY"),
            blueprints_dir=r.get("BLUEPRINTS_DIR", _directory, d.blueprints_dir),
            environment=environment,
            instance_id=r.get("INSTANCE_ID", str, socket.gethostname() or d.instance_id),
            job_max_retries=r.get("JOB_MAX_RETRIES", _non_negative_int, d.job_max_retries),
            task_max_attempts=r.get("TASK_MAX_ATTEMPTS", _positive_int, d.task_max_attempts),
            retry_backoff_base=r.get("RETRY_BACKOFF_BASE_SECONDS", _positive_float, d.retry_backoff_base),
            max_transitions_per_job=r.get("MAX_TRANSITIONS_PER_JOB", _positive_int, d.max_transitions_per_job),
            max_job_depth=r.get("MAX_HOLARCHY_DEPTH", _positive_int, d.max_job_depth),
            job_history_limit=r.get("JOB_HISTORY_LIMIT", _positive_int, d.job_history_limit),
            worker_timeout_seconds=r.get("WORKER_TIMEOUT_SECONDS", _positive_float, d.worker_timeout_seconds),
            dispatch_timeout_seconds=r.get("DISPATCH_TIMEOUT_SECONDS", _positive_float, None),
            worker_poll_timeout_seconds=r.get(
                "WORKER_POLL_TIMEOUT_SECONDS", _positive_float, d.worker_poll_timeout_seconds
            ),
            task_lease_seconds=r.get("TASK_LEASE_SECONDS", _positive_float, d.task_lease_seconds),
            router_reservation_seconds=r.get(
                "ROUTER_RESERVATION_SECONDS", _positive_float, d.router_reservation_seconds
            ),
            pickup_announce_delay_seconds=r.get(
                "PICKUP_ANNOUNCE_DELAY_SECONDS", _non_negative_float, d.pickup_announce_delay_seconds
            ),
            task_priority_aging_seconds=r.get(
                "TASK_PRIORITY_AGING_SECONDS", _positive_float, d.task_priority_aging_seconds
            ),
            worker_health_check_interval_seconds=r.get(
                "WORKER_HEALTH_CHECK_INTERVAL_SECONDS", _positive_float, d.worker_health_check_interval_seconds
            ),
            executor_max_concurrent_jobs=r.get(
                "EXECUTOR_MAX_CONCURRENT_JOBS", _positive_int, d.executor_max_concurrent_jobs
            ),
            max_request_body_bytes=r.get("MAX_REQUEST_BODY_BYTES", _positive_int, d.max_request_body_bytes),
            job_shards=r.get("JOB_SHARDS", _positive_int, d.job_shards),
            namespace=r.get("AVTOMAT_NAMESPACE", _name, d.namespace),
            rabbitmq_url=r.get("RABBITMQ_URL", _url(("amqp", "amqps")), d.rabbitmq_url),
            redis_url=r.get("REDIS_URL", _url(("redis", "rediss", "unix")), d.redis_url),
            rabbitmq_queue_type=r.get("RABBITMQ_QUEUE_TYPE", _queue_type, d.rabbitmq_queue_type),
            rabbitmq_delivery_limit=r.get("RABBITMQ_DELIVERY_LIMIT", _positive_int, d.rabbitmq_delivery_limit),
            finished_job_ttl_seconds=r.get("FINISHED_JOB_TTL_SECONDS", _positive_float, d.finished_job_ttl_seconds),
            log_level=r.get("LOG_LEVEL", _log_level, d.log_level),
            log_format=r.get("LOG_FORMAT", _log_format, "json" if production else d.log_format),
            otel_endpoint=r.get("OTEL_EXPORTER_OTLP_ENDPOINT", _http_url, d.otel_endpoint),
            otel_service_name=r.get("OTEL_SERVICE_NAME", str, d.otel_service_name),
            schedules_config_path=r.get("SCHEDULES_CONFIG_PATH", _file, d.schedules_config_path),
            timezone=r.get("TZ", _zone, d.timezone),
            enable_client_api=r.get("ENABLE_CLIENT_API", _bool, d.enable_client_api),
            clients_config_path=clients_path,
            workers_config_path=workers_path,
            rate_limiting_enabled=r.get("RATE_LIMITING_ENABLED", _bool, d.rate_limiting_enabled),
            rate_limit_limit=r.get("RATE_LIMIT_LIMIT", _positive_int, d.rate_limit_limit),
            rate_limit_period=r.get("RATE_LIMIT_PERIOD", _positive_float, d.rate_limit_period),
            rate_limit_poll_limit=r.get("RATE_LIMIT_POLL_LIMIT", _positive_int, d.rate_limit_poll_limit),
            rate_limit_heartbeat_limit=r.get("RATE_LIMIT_HEARTBEAT_LIMIT", _positive_int, d.rate_limit_heartbeat_limit),
            parent=_parent(r, r.get("AVTOMAT_NAMESPACE", _name, d.namespace)),
            webhook_secret=webhook_secret(),
            webhook_max_age_seconds=r.get("WEBHOOK_MAX_AGE_SECONDS", _positive_float, d.webhook_max_age_seconds),
            webhook_allow_private=r.get("WEBHOOK_ALLOW_PRIVATE", _bool, environment in DEVELOPMENT),
            webhook_timeout_seconds=r.get("WEBHOOK_TIMEOUT_SECONDS", _positive_float, d.webhook_timeout_seconds),
            webhook_concurrency=r.get("WEBHOOK_CONCURRENCY", _positive_int, d.webhook_concurrency),
            objects=ObjectSettings.read(r.get),
            history_database_uri=r.get("HISTORY_DATABASE_URI", _url(("postgresql", "postgres")), ""),
            history_retention_days=r.get("HISTORY_RETENTION_DAYS", _non_negative_int, d.history_retention_days),
            tls=TlsSettings.read(lambda name: r.get(name, str, ""), lambda name: r.get(name, _bool, False)),
            **_sts(r),
            generated=tuple(generated),
        )
        return settings


def _sts(r: _Reader) -> dict[str, int]:
    """``STS_ACCESS_TOKEN_TTL_SECONDS`` and ``STS_REFRESH_TOKEN_TTL_SECONDS`` (the second no shorter)."""
    access = r.get("STS_ACCESS_TOKEN_TTL_SECONDS", _positive_int, defaults.STS_ACCESS_TOKEN_TTL_SECONDS)
    refresh = r.get("STS_REFRESH_TOKEN_TTL_SECONDS", _positive_int, defaults.STS_REFRESH_TOKEN_TTL_SECONDS)
    if refresh < access:
        raise ConfigError(
            "STS_REFRESH_TOKEN_TTL_SECONDS", f"{refresh} is shorter than STS_ACCESS_TOKEN_TTL_SECONDS ({access})"
        )
    return {"sts_access_token_ttl_seconds": access, "sts_refresh_token_ttl_seconds": refresh}


_PARENT_DETAILS = (
    "PARENT_WORKER_TOKEN",
    "PARENT_ORCHESTRATOR_SECRET_KEY",
    "PARENT_WORKER_ID",
    "PARENT_MAX_CONCURRENT_TASKS",
    "PARENT_HEARTBEAT_INTERVAL",
    "PARENT_TLS_CA_PATH",
    "PARENT_TLS_CERT_PATH",
    "PARENT_TLS_KEY_PATH",
)


def _parent(r: _Reader, namespace: str) -> ParentSettings | None:
    """Pure Holon mode's settings, or None without ``PARENT_ORCHESTRATOR_URL``."""
    url = r.get("PARENT_ORCHESTRATOR_URL", _http_url, "")
    if not url:
        for name in _PARENT_DETAILS:
            if r.get(name, str, ""):
                raise ConfigError(name, "is set but PARENT_ORCHESTRATOR_URL is not (set both, or neither)")
        return None
    token = r.get("PARENT_WORKER_TOKEN", str, "")
    if not token:
        raise ConfigError("PARENT_WORKER_TOKEN", "must be set with PARENT_ORCHESTRATOR_URL (the parent's worker token)")
    parent = ParentSettings(
        url=url,
        worker_token=token,
        secret_key=r.get("PARENT_ORCHESTRATOR_SECRET_KEY", str, ""),
        worker_id=r.get("PARENT_WORKER_ID", _worker_id, namespace),
        max_concurrent_tasks=r.get("PARENT_MAX_CONCURRENT_TASKS", _positive_int, defaults.PARENT_MAX_CONCURRENT_TASKS),
        heartbeat_interval=r.get("PARENT_HEARTBEAT_INTERVAL", _positive_float, defaults.PARENT_HEARTBEAT_INTERVAL),
        tls_ca_path=r.get("PARENT_TLS_CA_PATH", str, ""),
        tls_cert_path=r.get("PARENT_TLS_CERT_PATH", str, ""),
        tls_key_path=r.get("PARENT_TLS_KEY_PATH", str, ""),
    )
    parent.ssl_context()  # loads the files: a wrong one stops the start, named
    return parent


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise ConfigError(name, f"{exc} (got {raw!r})") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError("must be a positive, finite number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError("must be zero or a positive, finite number")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port (0-65535)")
    return value


def _directory(raw: str) -> str:
    if not Path(raw).is_dir():
        raise ValueError("is not a directory")
    return raw


def _file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError("is not a file")
    return raw


def _zone(raw: str) -> str:
    """An IANA time zone name (``Europe/Berlin``); glibc's leading ``:`` is allowed."""
    name = raw.removeprefix(":")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, such as UTC or Europe/Berlin") from None
    return name


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme, sep, rest = raw.partition("://")
        if not sep or scheme not in schemes or not rest:
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _http_url(raw: str) -> str:
    parsed = urllib.parse.urlsplit(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parsed.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a valid port") from None
    return raw.rstrip("/")


def _worker_id(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", raw):
        raise ValueError("must be 1-128 letters, digits, '_' or '-' (an RXON worker id)")
    return raw


def _name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", raw):
        raise ValueError("must be 1-63 letters, digits, '_' or '-', starting with a letter or digit")
    return raw


def _queue_type(raw: str) -> str:
    if raw.lower() not in ("classic", "quorum"):
        raise ValueError("must be classic or quorum")
    return raw.lower()


def _log_level(raw: str) -> str:
    if raw.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return raw.upper()


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _log_format(raw: str) -> str:
    if raw.lower() not in ("text", "json"):
        raise ValueError("must be text or json")
    return raw.lower()
