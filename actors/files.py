"""The files actor: a job's objects are deleted once the job has expired (managed lifecycle).

Whoever first writes an object for a job (a handler's ``task_files``, the claim check, a client
upload, a worker's result files) calls ``Purges.touched`` first, which schedules one deadline,
``PurgeFiles`` with the envelope id ``purge:{job_id}:0``, ``after`` seconds on (the finished-job
TTL). When it fires, this actor looks at the job:

- gone from the store (Redis expired it), or ended (not quarantined) at least ``after`` seconds
  ago: every object under ``{job_id}/`` is deleted;
- still running, quarantined (kept until redriven), or ended more recently: the next round is
  scheduled, ``after`` seconds on or at the end plus ``after``, under a new id.

Guarantee: a job's objects outlive its stored record by at most one timeouts tick plus the time
the deletion takes, and are never deleted while the job is stored and not expired. Idempotent: a
redelivered purge deletes nothing more, and re-schedules the same next round (an id already
scheduled keeps its time). The store or the object store being away is retried in place by the
runtime. Objects written while no deadline could be scheduled (a crash between the two) are not
covered; the write is always attempted after the schedule, never before, so that is the only gap.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from actors.ports.objects import ObjectStore
from actors.ports.store import DeadlineStore, JobStore, Scheduled
from engine import routes
from engine.job import QUARANTINED, JobState
from engine.messages import Envelope, PurgeFiles, envelope
from engine.objects import JobObjects

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeFiles:
    """A node's object storage: the store, the step's capability over it (``engine.objects``),
    and how long after a job's end its objects go (None: never, ``S3_AUTO_CLEANUP=false``)."""

    objects: ObjectStore
    job_objects: JobObjects
    purge_after: float | None


class FilesStore(JobStore, DeadlineStore, Protocol):
    """What the files actor needs of the store: the job, and the deadline set."""


def purge_deadline(job_id: str, at: float, now: float, round_: int = 0) -> Scheduled:
    env = envelope(job_id, PurgeFiles(job_id, round_), now, id=f"purge:{job_id}:{round_}")
    return Scheduled(routes.FILES, env, at)


class Purges:
    """Schedules the first purge of a job that gets objects. ``touched`` is idempotent; a small
    memory of the jobs it scheduled saves repeated writes for the same job."""

    def __init__(self, store: DeadlineStore, clock: Callable[[], float], *, after: float, remember: int = 4096) -> None:
        self._store, self._clock, self._after = store, clock, after
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def touched(self, job_id: str) -> None:
        """Call before writing an object for ``job_id``."""
        if job_id in self._seen:
            return
        now = self._clock()
        await self._store.schedule(purge_deadline(job_id, now + self._after, now))
        self._seen[job_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)


class FilesActor:
    def __init__(self, store: FilesStore, objects: ObjectStore, clock: Callable[[], float], *, after: float) -> None:
        self._store, self._objects, self._clock, self._after = store, objects, clock, after

    async def handle(self, env: Envelope) -> None:
        purge = env.body
        if not isinstance(purge, PurgeFiles):
            return
        now = self._clock()
        state = await self._store.load_job(purge.job_id)
        due = self._due(state, now)
        if due > now:
            await self._store.schedule(purge_deadline(purge.job_id, due, now, purge.round + 1))
            return
        deleted = await self._objects.delete_prefix(f"{purge.job_id}/")
        log.info("job %s has expired: %d of its objects deleted", purge.job_id, deleted)

    def _due(self, state: JobState | None, now: float) -> float:
        """When the job's objects may go: now if it is gone, else ``after`` past its end, else
        (running or quarantined) at the earliest ``after`` from now."""
        if state is None:
            return now
        if state.terminal and state.status != QUARANTINED and state.finished_at is not None:
            return state.finished_at + self._after
        return now + self._after
