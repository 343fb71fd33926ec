"""Deadlines in the store.

Deadlines are a sorted set of envelopes keyed by envelope id (scheduling twice is a no-op);
``due`` reads without removing, and the timeouts actor removes after publishing, so a crash in
between republishes (the job de-duplicates by envelope id). A job's own deadlines are added and
removed by ``JobStore.commit_job``, atomically with the state that needs them or makes them
obsolete (ADR 0008); ``schedule`` serves everyone else (fan-out branches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from engine.messages import Envelope


class Scheduled(msgspec.Struct, frozen=True):
    route: str
    envelope: Envelope
    at: float


class DeadlineStore(Protocol):
    async def schedule(self, item: Scheduled) -> None: ...

    async def due(self, now: float, limit: int) -> list[Scheduled]: ...

    async def unschedule(self, envelope_ids: Sequence[str]) -> None: ...

    async def next_due(self) -> float | None: ...
