"""``workers.toml`` (``WORKERS_CONFIG_PATH``): each worker's own token and the skills it may take.

One ``[worker_id]`` table per worker: ``token`` (clear, hashed as it is read) or
``token_sha256`` (hex), one or a list of either (for rotation); ``skills``, a list: the only
skills it may register, heartbeat and poll for (absent: any); ``description``, ignored
(upstream's). A worker listed here is refused with ``GLOBAL_WORKER_TOKEN``: only its own token
names it. Anything wrong stops start-up (and fails a reload, keeping the table in force):
``ConfigError`` naming ``WORKERS_CONFIG_PATH``, the file, the table and the key.

The table travels to every gateway through the store as one msgpack document (``WorkerTable``),
digests only: no gateway, and no store, ever holds a worker's token in clear.
"""

from __future__ import annotations

import msgspec

from transport.app.toml_tables import Table, read_tables

VARIABLE = "WORKERS_CONFIG_PATH"
KEYS = ("token", "token_sha256", "skills", "description")


class WorkerGrant(msgspec.Struct, frozen=True):
    """What one worker token allows: to act as ``worker_id``, for ``skills`` (None: any)."""

    worker_id: str
    skills: frozenset[str] | None = None


class WorkerTable(msgspec.Struct, frozen=True):
    """Every worker of ``workers.toml``: token digest (hex) -> grant."""

    grants: dict[str, WorkerGrant] = msgspec.field(default_factory=dict)

    def listed(self) -> frozenset[str]:
        return frozenset(grant.worker_id for grant in self.grants.values())

    def skills_of(self, worker_id: str) -> frozenset[str] | None:
        """The skills ``worker_id`` may take (None: any, or it is not listed)."""
        return next((g.skills for g in self.grants.values() if g.worker_id == worker_id), None)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(WorkerTable)


def encode_table(table: WorkerTable) -> bytes:
    return _encoder.encode(table)


def decode_table(raw: bytes) -> WorkerTable:
    return _decoder.decode(raw)


def load_workers(path: str) -> WorkerTable:
    """The table of ``path`` (``ConfigError`` on any problem)."""
    grants: dict[str, WorkerGrant] = {}
    for table in read_tables(VARIABLE, path):
        table.check_keys(KEYS)
        table.string("description")
        grant = WorkerGrant(table.name, _skills(table))
        for digest in table.digests("token", "token_sha256"):
            if digest.hex() in grants:
                raise table.error("token", f"the same token as worker {grants[digest.hex()].worker_id!r}")
            grants[digest.hex()] = grant
    return WorkerTable(grants)


def _skills(table: Table) -> frozenset[str] | None:
    skills = table.strings("skills")
    return None if skills is None else frozenset(skills)
