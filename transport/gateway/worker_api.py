"""RXON worker lifecycle: registration, heartbeats and events.

A heartbeat is also what keeps a worker's tasks its own: the leases of the tasks it lists in
``current_tasks`` (the SDK lists every task it runs) are extended to ``TASK_LEASE_SECONDS`` from
now. Only the worker's own leases move; a task leased to another worker is not taken over by
listing it (it is answered in ``cancel_task_ids`` instead). An empty heartbeat names no tasks and
extends nothing.

The worker id in the URL or body must be one the worker's token may act as (``auth``): the one
its own token names, else the ``X-Worker-ID`` sent with the global token (403 otherwise). A
worker limited to some skills (``workers.toml``) is recorded with those only: the others it
registers or heartbeats are dropped (the registration's answer warns), so none is handed to it.
A worker the store does not know, or whose registration expired, gets 404 with a message
containing "not found": the SDK re-registers on exactly that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from aiohttp import web
from rxon.constants import EVENT_TYPE_PROGRESS, PROTOCOL_VERSION, PROTOCOL_VERSION_HEADER
from rxon.models import Heartbeat, WorkerEventPayload, WorkerRegistration
from rxon.validators import is_valid_identifier

from actors.ports.store import Lease, WorkerRecord
from engine import webhooks
from engine.job import JobState
from engine.messages import WorkerEvent, envelope
from engine.routes import JOBS
from transport.gateway.auth import WorkerIdentity, check_signature, worker_of
from transport.gateway.bodies import decode_model, read_object, read_optional_object
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.limits import HEARTBEAT, WORKER
from transport.gateway.liveness import mailbox_of
from transport.gateway.log_fields import bind_job

log = logging.getLogger(__name__)


async def register(request: web.Request) -> web.Response:
    """Store (or replace) the worker's record. Re-registering is idempotent: the record is
    rebuilt from the registration, and live state comes back with the next heartbeat."""
    ctx = context_of(request)
    identity = await worker_of(request, WORKER)
    raw = await read_object(request)
    reg = decode_model(WorkerRegistration, raw)
    if not is_valid_identifier(reg.worker_id):
        raise web.HTTPBadRequest(text=f"worker_id {reg.worker_id!r} must be 1-128 of [A-Za-z0-9_-]")
    identity.require(reg.worker_id, "worker_id")
    now = ctx.clock()
    await check_signature(ctx, identity, reg, raw, worker_id=reg.worker_id, now=now)
    offered = [s.name for s in reg.supported_skills or []]
    extra = reg.capabilities.extra if reg.capabilities else None
    await ctx.store.put_worker(
        WorkerRecord(
            worker_id=reg.worker_id,
            worker_type=reg.worker_type,
            skills=identity.allowed(offered),
            hot_skills=identity.allowed(list(reg.hot_skills or [])),
            status="idle",
            registered_at=now,
            last_seen=now,
            expires_at=now + ctx.settings.worker_ttl,
            websockets=bool((extra or {}).get("websockets")),
            info=msgspec.to_builtins(reg),
        )
    )
    answer = {"status": "registered", "version": PROTOCOL_VERSION}
    warnings = []
    client_version = request.headers.get(PROTOCOL_VERSION_HEADER)
    if client_version and client_version != PROTOCOL_VERSION:
        warnings.append(f"worker speaks RXON {client_version}, orchestrator {PROTOCOL_VERSION}")
    if refused := identity.refused(offered):
        warnings.append(f"skills not allowed for this worker (workers.toml), never handed out: {', '.join(refused)}")
    if warnings:
        answer["warning"] = "; ".join(warnings)
    return json_response(answer)


async def heartbeat(request: web.Request) -> web.Response:
    """An empty body only extends the registration; a ``Heartbeat`` also replaces the live state
    and extends the leases of the worker's ``current_tasks``.

    ``cancel_task_ids`` lists the reported tasks the worker should stop (see ``_tasks_to_cancel``).
    """
    ctx = context_of(request)
    identity = await worker_of(request, HEARTBEAT)
    worker_id = request.match_info["worker_id"]
    identity.require(worker_id, "worker in the path")
    raw = await read_optional_object(request)
    now = ctx.clock()
    record = await known_worker(ctx, worker_id, now)
    record.last_seen, record.expires_at = now, now + ctx.settings.worker_ttl
    if raw is None:
        await ctx.store.put_worker(record)
        return json_response({"status": "ttl_refreshed"})
    beat = decode_model(Heartbeat, raw)
    if beat.worker_id != worker_id:
        raise web.HTTPForbidden(text=f"worker_id in the body {beat.worker_id!r} does not match {worker_id!r}")
    await check_signature(ctx, identity, beat, raw, worker_id=worker_id, now=now)
    record.status = beat.status
    record.current_tasks = list(beat.current_tasks or [])
    record.hot_skills = identity.allowed(list(beat.hot_skills or []))
    if beat.supported_skills is not None:  # absent: the catalog is unchanged since last sync
        record.skills = identity.allowed([s.name for s in beat.supported_skills])
    await ctx.store.put_worker(record)
    await ctx.store.extend_leases(worker_id, record.current_tasks, now + ctx.settings.task_lease_seconds)
    answer: dict[str, Any] = {"status": "ok"}
    if cancel := await _tasks_to_cancel(ctx, worker_id, record.current_tasks):
        answer["cancel_task_ids"] = cancel
    return json_response(answer)


async def known_worker(ctx: GatewayContext, worker_id: str, now: float) -> WorkerRecord:
    record = await ctx.store.get_worker(worker_id)
    if record is None or record.expires_at <= now:
        raise web.HTTPNotFound(text=f"worker {worker_id} not found; register again")
    return record


async def _tasks_to_cancel(ctx: GatewayContext, worker_id: str, task_ids: list[str]) -> list[str]:
    """Tasks the worker runs in vain: leased to another worker, or whose job is gone, terminal,
    or no longer wants them (waiting on a different task, or a fan-out branch that settled or
    was retried). Tasks without a lease are left alone (nothing known)."""
    # Concurrent reads: a pipelining store sends each round of them as one round trip.
    leases = await asyncio.gather(*(ctx.store.get_lease(task_id) for task_id in task_ids))
    held = [(task_id, lease) for task_id, lease in zip(task_ids, leases, strict=True) if lease is not None]
    jobs = await asyncio.gather(*(ctx.store.load_job(lease.job_id) for _, lease in held))

    async def in_vain(task_id: str, lease: Lease, job: JobState | None) -> bool:
        return lease.worker_id != worker_id or job is None or await mailbox_of(ctx.store, job, task_id) is None

    verdicts = await asyncio.gather(*(in_vain(t, lease, job) for (t, lease), job in zip(held, jobs, strict=True)))
    return [task_id for (task_id, _), cancel in zip(held, verdicts, strict=True) if cancel]


async def event(request: web.Request) -> web.Response:
    """Accept a worker event (``apply_event``)."""
    ctx = context_of(request)
    identity = await worker_of(request, WORKER)
    await apply_event(ctx, await read_object(request), identity)
    return json_response({"status": "event_accepted"})


async def apply_event(ctx: GatewayContext, raw: dict[str, Any], identity: WorkerIdentity) -> None:
    """Check and apply one worker event, sent by POST or as a WebSocket frame (``worker_ws``);
    ``identity`` is who the sender authenticated as.

    The event's job is ``target_job_id``, else the job of the task it names (by the task's lease).
    Progress is stored beside the job and announced to its webhook (``worker_event:progress``)
    here; it goes to the job's mailbox only when the job's task maps it in ``event_transitions``.
    Any other event goes to the job's mailbox (``WorkerEvent``, envelope id named after
    ``event_id``, so a resent event counts once), which records it, tells the webhook and applies
    ``event_transitions``. An event for a job that is gone or terminal, or progress for another
    task, is dropped: the answer is the same, so the SDK never retries it. A bad event raises
    ``web.HTTPException`` (400, 401, 403)."""
    ev = decode_model(WorkerEventPayload, raw)
    identity.require(ev.worker_id, "worker_id")
    await check_signature(
        ctx, identity, ev, raw, worker_id=ev.worker_id, now=ctx.clock(), ignore_fields=["bubbling_chain"]
    )
    progress = _progress(ev) if ev.event_type == EVENT_TYPE_PROGRESS else None
    task_id = ev.target_task_id or ev.origin_task_id
    job_id = ev.target_job_id
    if job_id is None and task_id is not None:
        lease = await ctx.store.get_lease(task_id)
        job_id = lease.job_id if lease else None
    job = await ctx.store.load_job(job_id) if job_id else None
    if job is None or job.terminal:
        return
    bind_job(job, task_id=task_id, worker_id=ev.worker_id)
    log.debug("worker event", extra={"event_type": ev.event_type})
    now = ctx.clock()
    msg = WorkerEvent(
        event_id=ev.event_id,
        event_type=ev.event_type,
        worker_id=ev.worker_id,
        task_id=task_id,
        payload=ev.payload,
        timestamp=ev.timestamp,
    )
    if progress is not None:
        if task_id is not None and (job.task is None or job.task.id != task_id):
            return
        await ctx.store.set_progress(job.id, *progress)
        if job.webhook_url:
            hook = webhooks.worker_event(job, msg, now)
            await ctx.broker.publish(hook.route, hook.envelope)
        if job.task is None or EVENT_TYPE_PROGRESS not in (job.task.event_transitions or {}):
            return
    env = envelope(job.id, msg, now, id=f"worker-event:{ev.event_id}")
    if job.traceparent is not None and (ev.trace_context or {}).get("traceparent"):
        # the worker's span of the task (the SDK's ``trace_context``): the job's step is its child
        env = msgspec.structs.replace(env, traceparent=(ev.trace_context or {})["traceparent"])
    await ctx.broker.publish(JOBS, env)


def _progress(ev: WorkerEventPayload) -> tuple[float, str | None]:
    """A progress event's ``(progress, message)``; 400 if they are not a number and a string."""
    progress, message = ev.payload.get("progress"), ev.payload.get("message")
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        raise web.HTTPBadRequest(text=f"progress event needs a numeric payload.progress, got {progress!r}")
    if message is not None and not isinstance(message, str):
        raise web.HTTPBadRequest(text=f"progress event payload.message must be a string, got {message!r}")
    return float(progress), message
