"""Job quotas at creation (``clients.toml``: ``jobs_per_day``, ``monthly_attempts``,
``max_running_jobs``), shared by every gateway through the store.

- Checked and counted in one store call (one Redis script) before the job is stored; a client
  without quotas costs nothing. A job counted and then not queued (the broker was away: it is
  failed at once) still counts against the day and the month; it stops counting as running at
  the next pruning.
- ``max_running_jobs`` counts the ids admitted; when it is reached, the ids of jobs that ended
  (or expired) are dropped and the job is tried once more. Pruning reads those jobs: a client at
  its limit pays up to ``max_running_jobs`` job reads per refused creation.
- A spent quota is a 429 naming it, with ``Retry-After`` until its window ends (none for
  ``max_running_jobs``: that depends on the client's jobs).
"""

from __future__ import annotations

import asyncio
import time

from engine.limits import JOBS_PER_DAY, MAX_RUNNING_JOBS, quota_windows
from transport.app.clients import Client
from transport.gateway.context import GatewayContext
from transport.gateway.limits import too_many

QUOTA = "quota"  # the class of refusals in orchestrator_ratelimit_blocked_total


async def admit(ctx: GatewayContext, client: Client, job_id: str) -> None:
    """Count ``job_id`` against the client's quotas, or raise 429 naming the one spent."""
    quota = client.quota
    if not quota.limited:
        return
    now = ctx.clock()
    day, month = quota_windows(now)
    spent = await ctx.store.admit_job(client.id, job_id, quota, day, month)
    if spent == MAX_RUNNING_JOBS and await _prune(ctx, client.id):
        spent = await ctx.store.admit_job(client.id, job_id, quota, day, month)
    if spent is None:
        return
    ctx.blocked.inc(QUOTA)
    if spent == MAX_RUNNING_JOBS:
        raise too_many(f"quota {spent} of client {client.id!r} is spent: {quota.max_running_jobs} jobs running", None)
    limit, window = (quota.jobs_per_day, day) if spent == JOBS_PER_DAY else (quota.monthly_attempts, month)
    per = "UTC day" if spent == JOBS_PER_DAY else "UTC month"
    renews = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window.ends_at))
    raise too_many(
        f"quota {spent} of client {client.id!r} is spent: {limit} jobs per {per}; it renews at {renews}",
        window.ends_at - now,
    )


async def _prune(ctx: GatewayContext, client_id: str) -> bool:
    """Stop counting the client's jobs that ended or are gone; whether any were."""
    ids = await ctx.store.running_jobs(client_id)
    states = await asyncio.gather(*(ctx.store.load_job(job_id) for job_id in ids))
    ended = [job_id for job_id, state in zip(ids, states, strict=True) if state is None or state.terminal]
    await ctx.store.forget_running(client_id, ended)
    return bool(ended)
