"""``clients.toml`` (``CLIENTS_CONFIG_PATH``): the API clients, read and checked at start-up.

One ``[name]`` table per client; ``name`` is the client's id (the owner of its jobs, the key of
its rate limit and quotas). Keys:

- ``token`` (a string, or a list for several) and/or ``token_sha256`` (hex, one or a list): at
  least one. Only SHA-256 digests are kept in memory; a request's token is hashed and looked up.
- ``plan`` (default ``"default"``) and ``params`` (a table): what the job's handlers see as
  ``client.plan`` and ``client.params``, as they were when the job was created.
- ``admin = true``: the admin role (``POST /api/v1/admin/reload-workers``).
- quotas, each unlimited when absent: ``monthly_attempts`` (jobs created per UTC calendar month;
  upstream's name, counted per job, not per request), ``jobs_per_day`` (per UTC day),
  ``max_running_jobs`` (not yet ended).
- ``rate_limit`` (calls per period) and ``rate_limit_period`` (seconds): this client's limit, in
  place of ``RATE_LIMIT_LIMIT`` per ``RATE_LIMIT_PERIOD``.

``CLIENT_TOKEN`` is one more client (id: a hash of the token, plan ``default``), which has the
admin role when there is no ``clients.toml``. Anything wrong stops start-up: ``ConfigError``
naming ``CLIENTS_CONFIG_PATH``, the file, the table and the key.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine import defaults
from engine.errors import ConfigError
from engine.limits import Quota, Rate
from transport.app.settings import Settings
from transport.app.toml_tables import Table, read_tables, token_digest

VARIABLE = "CLIENTS_CONFIG_PATH"
KEYS = (
    "token",
    "token_sha256",
    "plan",
    "params",
    "admin",
    "monthly_attempts",
    "jobs_per_day",
    "max_running_jobs",
    "rate_limit",
    "rate_limit_period",
)


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated API client (never its token)."""

    id: str
    plan: str = defaults.CLIENT_PLAN
    params: Mapping[str, Any] = field(default_factory=dict)
    admin: bool = False
    quota: Quota = field(default_factory=Quota)
    rate_limit: int | None = None  # None: RATE_LIMIT_LIMIT
    rate_limit_period: float | None = None  # None: RATE_LIMIT_PERIOD


@dataclass(frozen=True, slots=True)
class ClientTable:
    """Every client, found by the SHA-256 of a token."""

    by_digest: Mapping[bytes, Client]

    def find(self, token: str) -> Client | None:
        return self.by_digest.get(token_digest(token))


@functools.lru_cache(maxsize=256)  # a few tokens, asked on every request
def client_id_of(token: str) -> str:
    """The id of the ``CLIENT_TOKEN`` client: stable and non-reversible; jobs are scoped to it."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def load_clients(settings: Settings) -> ClientTable:
    """The clients of ``settings.clients_config_path`` and ``CLIENT_TOKEN`` (when set)."""
    found: dict[bytes, Client] = {}
    path = settings.clients_config_path
    for table in read_tables(VARIABLE, path) if path else ():
        client, digests = _client(table)
        for digest in digests:
            if digest in found:
                raise table.error("token", f"the same token as client {found[digest].id!r}")
            found[digest] = client
    if settings.client_token:
        digest = token_digest(settings.client_token)
        if digest in found:
            raise ConfigError(VARIABLE, f"{path}: [{found[digest].id}] token: the same token as CLIENT_TOKEN")
        found[digest] = Client(client_id_of(settings.client_token), admin=not path)
    return ClientTable(MappingProxyType(found))


def _client(table: Table) -> tuple[Client, list[bytes]]:
    table.check_keys(KEYS)
    quota = Quota(
        jobs_per_day=table.count("jobs_per_day"),
        monthly_attempts=table.count("monthly_attempts"),
        max_running_jobs=table.count("max_running_jobs"),
    )
    client = Client(
        id=table.name,
        plan=table.string("plan", defaults.CLIENT_PLAN) or defaults.CLIENT_PLAN,
        params=table.mapping("params"),
        admin=table.flag("admin"),
        quota=quota,
        rate_limit=table.count("rate_limit", minimum=1),
        rate_limit_period=table.seconds("rate_limit_period"),
    )
    return client, table.digests("token", "token_sha256")


def client_rate(client: Client, settings: Settings) -> Rate:
    """The client's rate limit: its own table's, else the settings'."""
    return Rate(client.rate_limit or settings.rate_limit_limit, client.rate_limit_period or settings.rate_limit_period)
