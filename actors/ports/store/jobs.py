"""Jobs in the store.

- Job state is versioned: ``commit_job`` is a compare-and-set on ``expected_version`` and raises
  ``VersionConflict`` if another writer committed first. Two nodes can never both apply a step.
- A job's own deadlines are added and removed by ``commit_job``, atomically with the state that
  needs them or makes them obsolete (ADR 0008; ``DeadlineStore`` says how deadlines behave).
- Progress lives beside the state, so a progress event is a small write, not a state rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actors.ports.store.deadlines import Scheduled
from engine.history import HistoryEvent
from engine.job import JobState


class JobStore(Protocol):
    async def create_job(self, state: JobState) -> bool:
        """Store a new job (version 1); False if the id exists already."""

    async def load_job(self, job_id: str) -> JobState | None: ...

    async def commit_job(
        self,
        state: JobState,
        expected_version: int,
        *,
        schedule: Sequence[Scheduled] = (),
        unschedule: Sequence[str] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        """Write ``state`` as version ``expected_version + 1`` and, in the same atomic step, append
        ``history`` to the job's history (keeping the newest events, up to the store's limit), list
        the job among its client's quarantined jobs if it is quarantined (and unlist it otherwise),
        remove the deadlines ``unschedule`` (ids; unknown ones are ignored), then add ``schedule``
        (as ``schedule`` does: an id already scheduled keeps its time); or raise
        ``VersionConflict`` and write none of it."""

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        """The job's history events, oldest first ([] for an unknown job)."""

    async def quarantined_jobs(self, client_id: str, limit: int) -> list[JobState]:
        """Up to ``limit`` of the client's quarantined jobs, longest in quarantine first."""

    async def claim(self, name: str, ttl: float) -> bool:
        """Take ``name`` for ``ttl`` seconds: True for the first caller, False while it is taken."""

    async def release_claim(self, name: str) -> None:
        """Give ``name`` back (a claim whose purpose failed); unknown names are ignored."""

    async def set_progress(self, job_id: str, progress: float, message: str | None) -> None: ...

    async def get_progress(self, job_id: str) -> tuple[float, str | None] | None: ...
