"""The job archive: the feed the job commits write, and the database the archiver fills from it.

Delivery (docs/adr/0018-job-archive.md):

- The feed is at-least-once. Every job commit (and every job creation) appends one ``FeedEntry``
  in the same atomic step as the state it carries, while the archive is configured; an entry
  stays in the feed until an archiver acknowledges it, after its transaction committed.
- The archive is idempotent: a job's row is keyed by its id and only ever replaced by a newer
  version; a history event is keyed by ``(job id, version, position in its commit)``. Writing an
  entry twice leaves the same rows as writing it once, so at-least-once in gives exactly-once rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from engine.history import HistoryEvent
from engine.job import JobState


class FeedEntry(msgspec.Struct, frozen=True):
    """One committed write of one job: ``state`` (msgpack ``JobState``, carrying its new version)
    and the ``events`` (msgpack ``HistoryEvent``s) appended with it; ``id`` is its feed position."""

    id: str
    state: bytes
    events: tuple[bytes, ...] = ()


class ArchiveFeed(Protocol):
    """The durable feed, read by a group of consumers (one per archiver): an entry is delivered to
    one of them and stays pending on it until acknowledged."""

    async def read(self, consumer: str, count: int, block: float) -> list[FeedEntry]:
        """Up to ``count`` entries no consumer has had, now pending on ``consumer``, oldest first;
        waits up to ``block`` seconds for one (``[]`` if none came)."""

    async def reclaim(self, consumer: str, idle: float, count: int) -> list[FeedEntry]:
        """Up to ``count`` entries pending on any consumer (this one too) for ``idle`` seconds or
        more, now pending on ``consumer``: the work of an archiver that died, or restarted."""

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge ``ids`` and drop them from the feed; unknown ids are ignored."""

    async def length(self) -> int:
        """How many entries the feed holds: those not archived yet (pending ones among them)."""

    async def oldest_age(self) -> float | None:
        """Seconds since the oldest entry not archived yet was appended, on the feed's own clock
        (Redis's); None when the feed is empty. The archive lag, for the metrics."""


class ArchiveWriter(Protocol):
    """Where the archiver writes (PostgreSQL)."""

    async def write(self, entries: Sequence[FeedEntry]) -> None:
        """Archive ``entries`` in one transaction: every job row at its newest version, every
        event once. Idempotent; raises ``Unavailable`` (nothing written) when the database is away."""

    async def forget_before(self, cutoff: float) -> int:
        """Delete the jobs that ended before ``cutoff`` (epoch seconds), with their events;
        returns how many jobs went. Idempotent."""


class JobQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A page of one client's jobs, newest first (``created_at``, then id, descending).

    ``before``: the ``(created_at, id)`` of the last job of the previous page; the page starts
    strictly after it. ``created_after``/``created_before``: inclusive/exclusive bounds."""

    client_id: str
    limit: int
    statuses: tuple[str, ...] = ()
    blueprint: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    before: tuple[float, str] | None = None

    def admits(self, state: JobState) -> bool:
        """Whether ``state`` belongs on this query's pages (ordering aside)."""
        return (
            state.client_id == self.client_id
            and (not self.statuses or state.status in self.statuses)
            and (self.blueprint is None or state.blueprint == self.blueprint)
            and (self.created_after is None or state.created_at >= self.created_after)
            and (self.created_before is None or state.created_at < self.created_before)
            and (self.before is None or (state.created_at, state.id) < self.before)
        )


class JobListing(Protocol):
    async def list_jobs(self, query: JobQuery) -> list[JobState]:
        """Up to ``query.limit`` jobs of the query, newest first."""


class ArchiveReader(JobListing, Protocol):
    """The archive as the gateway reads it: jobs whose store copy may be gone."""

    async def load_job(self, job_id: str) -> JobState | None: ...

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        """The job's archived events, in commit order ([] for an unknown job)."""
