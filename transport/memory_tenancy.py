"""The in-memory store's tenancy part: rate-limit buckets, job quotas and the worker token table,
with the Redis store's semantics (``actors/ports/store/tenancy.py``) in one process.

Each method runs without an ``await`` between its read and its write, so it is atomic on the
loop as the Redis scripts are on the server. Counters of a past window are dropped when the
client's next job is counted, as Redis expires them.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.limits import JOBS_PER_DAY, MAX_RUNNING_JOBS, MONTHLY_ATTEMPTS, Quota, Rate, Window, gcra


class MemoryTenancy:
    """``RateLimits``, ``ClientQuotas`` and ``WorkerTokens`` in memory."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}  # bucket key -> theoretical arrival time
        self._counts: dict[tuple[str, str], tuple[str, int]] = {}  # (client, quota) -> (window label, count)
        self._running: dict[str, set[str]] = {}
        self._worker_tokens: tuple[int, bytes] | None = None

    async def rate_hit(self, key: str, rate: Rate, now: float, *, peek: bool = False) -> float:
        tat = self._tats.get(key)
        if tat is not None and tat <= now:  # the bucket is full again: as if it had expired
            del self._tats[key]
            tat = None
        retry_after, new_tat = gcra(tat, now, rate, peek=peek)
        if new_tat is not None:
            self._tats[key] = new_tat
        return retry_after

    async def admit_job(self, client_id: str, job_id: str, quota: Quota, day: Window, month: Window) -> str | None:
        counted = ((JOBS_PER_DAY, quota.jobs_per_day, day), (MONTHLY_ATTEMPTS, quota.monthly_attempts, month))
        for name, limit, window in counted:
            if limit is not None and self._count(client_id, name, window) >= limit:
                return name
        running = self._running.setdefault(client_id, set())
        if quota.max_running_jobs is not None and len(running - {job_id}) >= quota.max_running_jobs:
            return MAX_RUNNING_JOBS
        for name, limit, window in counted:
            if limit is not None:
                self._counts[client_id, name] = (window.label, self._count(client_id, name, window) + 1)
        if quota.max_running_jobs is not None:
            running.add(job_id)
        return None

    def _count(self, client_id: str, name: str, window: Window) -> int:
        label, count = self._counts.get((client_id, name), (window.label, 0))
        return count if label == window.label else 0

    async def running_jobs(self, client_id: str) -> list[str]:
        return sorted(self._running.get(client_id, ()))

    async def forget_running(self, client_id: str, job_ids: Sequence[str]) -> None:
        self._running.get(client_id, set()).difference_update(job_ids)

    async def put_worker_tokens(self, document: bytes) -> int:
        version = (self._worker_tokens[0] if self._worker_tokens else 0) + 1
        self._worker_tokens = (version, document)
        return version

    async def worker_tokens(self) -> tuple[int, bytes] | None:
        return self._worker_tokens
