"""What the gateways share about their tenants: rate-limit buckets, job quotas and the worker
token table. Every gateway on one store sees the same state, so a limit holds across all of them.

- ``rate_hit`` is one atomic step (one Redis script): a bucket cannot be overdrawn by gateways
  racing each other, and a refusal changes nothing.
- ``admit_job`` counts a job against every quota of its client at once, or against none.
  ``max_running_jobs`` counts the ids admitted until ``forget_running`` drops them: the gateway
  prunes jobs that ended when the quota is reached, so nothing on the job's path has to report
  its end (nothing is lost if a gateway crashes between the two: the next pruning finds it).
- The worker token table is one document swapped whole (``put_worker_tokens``): a reader sees
  the old table or the new one, never a mix; ``version`` only grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.limits import Quota, Rate, Window


class RateLimits(Protocol):
    async def rate_hit(self, key: str, rate: Rate, now: float, *, peek: bool = False) -> float:
        """Count one call of ``key`` against ``rate`` (``engine.limits.gcra``): 0.0 if it passes,
        else the seconds until one would (nothing counted). ``peek``: whether one would pass,
        counting nothing either way."""


class ClientQuotas(Protocol):
    async def admit_job(self, client_id: str, job_id: str, quota: Quota, day: Window, month: Window) -> str | None:
        """Count ``job_id`` against the client's quotas in ``day`` and ``month``: None when
        admitted (every limited counter moved), else the name of the first quota spent
        (``engine.limits``: ``jobs_per_day``, ``monthly_attempts``, ``max_running_jobs``) and
        nothing counted. Counters expire with their window."""

    async def running_jobs(self, client_id: str) -> list[str]:
        """The ids ``admit_job`` counts as running for the client (some may have ended since)."""

    async def forget_running(self, client_id: str, job_ids: Sequence[str]) -> None:
        """Stop counting ``job_ids`` as running; idempotent."""


class WorkerTokens(Protocol):
    async def put_worker_tokens(self, document: bytes) -> int:
        """Replace the worker token table by ``document`` atomically; returns its new version."""

    async def worker_tokens(self) -> tuple[int, bytes] | None:
        """The table's ``(version, document)``, or None if none was ever put (one round trip)."""
