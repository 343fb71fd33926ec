"""The worker registry: registrations refreshed by heartbeats, expiring by time."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class WorkerRecord(msgspec.Struct, kw_only=True):
    """A registered worker, as the registry keeps it (refreshed by heartbeats, expires by TTL)."""

    worker_id: str
    worker_type: str = "generic"
    skills: list[str] = msgspec.field(default_factory=list)
    hot_skills: list[str] = msgspec.field(default_factory=list)
    status: str = "idle"
    current_tasks: list[str] = msgspec.field(default_factory=list)
    registered_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0
    websockets: bool = False
    info: dict[str, Any] = msgspec.field(default_factory=dict)


class WorkerRegistry(Protocol):
    async def put_worker(self, record: WorkerRecord) -> None: ...

    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        """Workers whose registration has not expired."""

    async def capable_workers(self, skill: str, now: float) -> list[WorkerRecord]:
        """Workers having ``skill`` whose registration has not expired, in no particular order
        (the Redis store reads the skill's capability set)."""
