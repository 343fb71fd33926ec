"""RXON task delivery (long-poll) and results.

Poll: the store hands out offers and records a lease of ``TASK_LEASE_SECONDS`` in the same atomic
step, which the worker's heartbeats extend; the gateway drops offers that went stale while queued
(job gone, terminal, or on another task; a fan-out branch settled or retried under another id),
releases their leases, and keeps waiting for the rest of the requested time. A live offer is
returned at once, its ``TaskStarted`` published beside (``transport.gateway.announcer``): the
lease already records the pickup, so the answer does not wait for the confirm. The result may
then reach the job before the pickup does; it counts as the pickup (``engine.tasks``). If the HTTP
response is lost, the worker never heartbeats the task, and its lease expiring hands it back to
the job.

Result: checked against the job and the lease, then forwarded as ``TaskDone`` with the id
``result:{job_id}:{task_id}`` (``result:{group_id}:{task_id}`` for a fan-out branch). An
identical resend produces the identical envelope, which is applied once; a resend after the job
moved on is answered "ignored", never an error. Either way the reporting worker is done with the
task: its lease is released (after the publish, so a crash in between leaves a lease that expires
into a stale ``TaskLost``, which changes nothing).

Where both go (``liveness.mailbox_of``): a job's own task to the job's mailbox; a branch of a
fan-out to its group's aggregator, so K results cost the job's mailbox nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math

import msgspec
from aiohttp import web
from rxon.constants import (
    AUTH_HEADER_WORKER_ID,
    ERROR_CODE_INTEGRITY_MISMATCH,
    IGNORED_REASON_CANCELLED,
    IGNORED_REASON_MISMATCH,
    IGNORED_REASON_NOT_FOUND,
    IGNORED_REASON_STALE,
)
from rxon.models import SecurityContext, TaskPayload, TaskResult
from rxon.utils import to_dict

from actors import log_context
from actors.ports.store import Lease
from engine.job import CANCELLED, JobState
from engine.messages import TaskDone, TaskOffer, TaskStarted, envelope
from transport.gateway.announcer import announcer_of
from transport.gateway.auth import authenticate_worker, check_signature, worker_limit
from transport.gateway.bodies import decode_model, read_object
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.file_refs import checked_files, worker_params
from transport.gateway.limits import POLL, WORKER, alongside
from transport.gateway.liveness import Mailbox, mailbox_of
from transport.gateway.log_fields import bind_job
from transport.gateway.signing import sign_task
from transport.gateway.worker_api import known_worker

log = logging.getLogger(__name__)

# Not among rxon's IGNORED_REASON_* constants, but part of upstream's vocabulary.
IGNORED_REASON_TERMINATED = "job_already_terminated"


async def next_task(request: web.Request) -> web.StreamResponse:
    """Wait up to ``?timeout`` seconds (capped by the server) for a task; 204 if none came."""
    ctx = context_of(request)
    identity = await authenticate_worker(request)
    worker_id = request.match_info["worker_id"]
    identity.require(worker_id, "worker in the path")
    timeout = _poll_timeout(request, ctx.settings.worker_poll_timeout_seconds)
    # Together, so one round trip: the poll limit is peeked (counted below if the poll comes back empty).
    check = worker_limit(request, identity, POLL, peek=True)
    record = await alongside(check, known_worker(ctx, worker_id, ctx.clock()))
    skills = _skills_query(request)
    skills = identity.allowed(record.skills if skills is None else skills)
    taken = await _take_live_offer(ctx, worker_id, skills, timeout)
    if taken is None:
        await ctx.limiter.count(POLL, identity.rate_key, ctx.clock())
        return web.Response(status=204)
    offer, mailbox, job = taken
    traceparent = job.traceparent
    bind_job(job, task_id=offer.task_id, worker_id=worker_id)
    now = ctx.clock()
    task = job.task
    if task is not None and task.id == offer.task_id:  # a fan-out branch's dispatch is the group's: unmeasured
        ctx.stats.dispatch_to_start.observe(offer.type, now - task.dispatched_at)
    # The pickup is durable already (take_task leased it atomically): no need to hold the answer
    # for the announcement's confirm (transport.gateway.announcer).
    started = envelope(mailbox.key, TaskStarted(offer.task_id, worker_id, at=now), now)
    at_once = _near_dispatch_deadline(offer, now, ctx.settings.pickup_announce_delay_seconds)
    announcer_of(request).announce(mailbox.route, started, task_id=offer.task_id, at_once=at_once)
    payload = TaskPayload(
        job_id=offer.job_id,
        task_id=offer.task_id,
        type=offer.type,
        params=await worker_params(ctx, request, offer.job_id, offer.params),
        priority=offer.priority,
        step=offer.step,
        timestamp=int(now),
        deadline=int(now + offer.result_timeout) if offer.result_timeout is not None else None,
        security=msgspec.convert(job.security, SecurityContext) if job.security is not None else None,
        metadata=job.metadata,
        policy={"allowed_skills": job.allowed_skills} if job.allowed_skills is not None else None,
        # the job's trace, for the worker's span of the task (the SDK's WORKER_ENABLE_METRICS)
        tracing_context={"traceparent": traceparent} if traceparent is not None else None,
    )
    log.debug("task handed out", extra={"task_type": offer.type})
    return json_response(to_dict(sign_task(payload, ctx.settings.orchestrator_secret_key)))


def _near_dispatch_deadline(offer: TaskOffer, now: float, delay: float) -> bool:
    """Whether the pickup must go out at once: delayed, it could reach its job (or group) after
    the task's dispatch deadline failed it."""
    deadline = offer.dispatch_deadline
    return deadline is not None and deadline - now < 2 * delay + 1.0


def _poll_timeout(request: web.Request, cap: float) -> float:
    raw = request.query.get("timeout")
    if raw is None or raw == "":
        return cap
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise web.HTTPBadRequest(text=f"timeout must be a non-negative number of seconds, got {raw!r}")
    return min(value, cap)


def _skills_query(request: web.Request) -> list[str] | None:
    """``available_skills=a,b`` as a list; present but empty means "nothing right now"."""
    raw = request.query.get("available_skills")
    if raw is None:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


async def _take_live_offer(
    ctx: GatewayContext, worker_id: str, skills: list[str], wait_seconds: float
) -> tuple[TaskOffer, Mailbox, JobState] | None:
    """The first offer for ``skills`` whose job still wants it, leased to ``worker_id``, with its
    mailbox and job; None if none came within ``wait_seconds``."""
    deadline = ctx.clock() + wait_seconds
    remaining = wait_seconds
    while True:
        lease_seconds = ctx.settings.task_lease_seconds
        # The job is read in the same store step as the pop: one round trip.
        taken = await ctx.store.take_task_with_job(
            worker_id, skills, remaining, ctx.clock(), lease_seconds=lease_seconds
        )
        if taken is None:
            return None
        offer, job = taken
        mailbox = None if job is None else await mailbox_of(ctx.store, job, offer.task_id)
        if job is not None and mailbox is not None and (offer.group_id is None or offer.group_id == mailbox.key):
            return offer, mailbox, job
        await ctx.store.release_lease(offer.task_id)
        remaining = deadline - ctx.clock()
        if remaining <= 0:
            return None


async def task_result(request: web.Request) -> web.Response:
    ctx = context_of(request)
    identity = await authenticate_worker(request)
    raw = await read_object(request)
    result = decode_model(TaskResult, raw)
    worker_id = result.worker_id or identity.worker_id
    if worker_id is None:
        raise web.HTTPBadRequest(text=f"the result names no worker: send worker_id or {AUTH_HEADER_WORKER_ID}")
    identity.require(worker_id, "worker_id")
    log_context.bind(job_id=result.job_id, task_id=result.task_id, worker_id=worker_id)
    now = ctx.clock()
    await check_signature(ctx, identity, result, raw, worker_id=worker_id, now=now)
    # Together, one round trip on a pipelining store; the limit is peeked (counted below if the
    # result is ignored).
    check = worker_limit(request, identity, WORKER, peek=True)
    reads = asyncio.gather(ctx.store.get_lease(result.task_id), ctx.store.load_job(result.job_id))
    lease, job = await alongside(check, reads)
    if job is not None:
        bind_job(job)
    answer = await _forward(ctx, result, worker_id, lease, job, now)
    log.debug("task result", extra={"task_status": result.status, "answer": answer["status"]})
    if answer["status"] == "accepted":
        announcer_of(request).withdraw(result.task_id)  # the result is the pickup now
        _count_run(ctx, result.task_id, lease, job, now)
    else:
        await ctx.limiter.count(WORKER, identity.rate_key, now)
    if lease is not None and (lease.worker_id, lease.job_id) == (worker_id, result.job_id):
        await ctx.store.release_lease(result.task_id)
    return json_response(answer)


def _count_run(ctx: GatewayContext, task_id: str, lease: Lease | None, job: JobState | None, now: float) -> None:
    """The task's run time, from its lease's pickup to this result, by skill (a fan-out branch,
    whose skill the job does not hold, goes unmeasured)."""
    task = None if job is None else job.task
    if lease is not None and task is not None and task.id == task_id:
        ctx.stats.task_run.observe(task.type, now - lease.taken_at)


async def _forward(
    ctx: GatewayContext, result: TaskResult, worker_id: str, lease: Lease | None, job: JobState | None, now: float
) -> dict[str, str]:
    """Publish the result to the task's mailbox, or say why it is ignored."""
    mailbox = await _mailbox_or_reason(ctx, result, worker_id, lease, job)
    if isinstance(mailbox, str):
        return {"status": "ignored", "reason": mailbox}
    done = TaskDone(
        task_id=result.task_id,
        worker_id=worker_id,
        status=result.status,
        data=result.data,
        error_code=result.error.code if result.error else None,
        error_message=result.error.message if result.error else None,
    )
    if result.data_metadata and ctx.files is not None:
        done = await _with_files(ctx, result, done)
    env = envelope(mailbox.key, done, now, id=f"result:{mailbox.key}:{result.task_id}")
    await ctx.broker.publish(mailbox.route, env)
    return {"status": "accepted"}


async def _with_files(ctx: GatewayContext, result: TaskResult, done: TaskDone) -> TaskDone:
    """``done`` carrying the worker's ``data_metadata``, or, if a file does not match the store,
    an ``INTEGRITY_MISMATCH_ERROR`` failure naming it (the job fails, or takes ``failure``)."""
    assert ctx.files is not None
    await ctx.files.touched(result.job_id)  # the worker wrote into the job's prefix: purge it with the job
    files, problem = await checked_files(ctx, result.job_id, result.data_metadata or {})
    if problem is None:
        return msgspec.structs.replace(done, files=files)
    return msgspec.structs.replace(
        done, status="failure", data=None, files=files, error_code=ERROR_CODE_INTEGRITY_MISMATCH, error_message=problem
    )


async def _mailbox_or_reason(
    ctx: GatewayContext, result: TaskResult, worker_id: str, lease: Lease | None, job: JobState | None
) -> Mailbox | str:
    """Where the result goes, or the "ignored" reason why it cannot apply to the job as it stands."""
    if job is None:
        return IGNORED_REASON_NOT_FOUND
    if job.status == CANCELLED:
        return IGNORED_REASON_CANCELLED
    if job.terminal:
        return IGNORED_REASON_TERMINATED
    if lease is not None and lease.worker_id != worker_id:
        return IGNORED_REASON_MISMATCH
    return await mailbox_of(ctx.store, job, result.task_id) or IGNORED_REASON_STALE
