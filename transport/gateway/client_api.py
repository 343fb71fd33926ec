"""The client API: create jobs, list, read, cancel and redrive them, read their history, list workers.

With the archive (``HISTORY_DATABASE_URI``), a job and its history are read from it once the
store's copy has gone (expired after ``FINISHED_JOB_TTL_SECONDS``, or lost), and listings come
from it; cancel and retry need the store's copy.

Jobs are scoped to the client the caller's token names (``clients.toml``, or ``CLIENT_TOKEN``):
another client's job is reported as not found (404), never as forbidden, so job ids do not leak;
listings hold the caller's jobs only. Every call counts against the client's rate limit
(``transport.gateway.limits``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from actors import log_context
from actors.ports.store import WorkerRecord
from actors.ports.tracing import trace_id_of
from engine.blueprint import StateMachineBlueprint
from engine.job import FAILED, QUARANTINED, WAITING_FOR_HUMAN, JobState, encode_state
from engine.messages import Cancel, Redrive, Start, envelope
from engine.objects import check_in
from engine.routes import JOBS
from transport.gateway.auth import authenticate_client, client_limit, client_of
from transport.gateway.bodies import read_object
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.file_refs import presigned, with_urls
from transport.gateway.job_listing import NEXT_CURSOR, encode_cursor, parse_query
from transport.gateway.job_request import check_webhook_url, parse_job_request
from transport.gateway.limits import alongside
from transport.gateway.quotas import admit
from transport.gateway.tracing import traceparent_of

log = logging.getLogger(__name__)

MAX_LISTED = 1000  # jobs one listing returns at most


async def public_status(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_job_handler(bp: StateMachineBlueprint) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``POST <registry.path_of(bp)>``.

    Order: the client's rate limit, then its quotas (``transport.gateway.quotas``: a refused
    job is not stored), then the job state is stored (so a GET right after the 202 finds it), then
    ``Start`` is published. If the publish fails, the stored job is marked failed and the client
    gets a 503, so no job is left pending with nothing to run it.
    """

    async def create_job(request: web.Request) -> web.Response:
        ctx = context_of(request)
        client = await client_of(request)
        job = parse_job_request(await read_object(request))
        await check_webhook_url(job, allow_private=ctx.settings.webhook_allow_private)
        job_id = str(uuid.uuid4())
        await admit(ctx, client, job_id)
        initial_data = job.initial_data
        if ctx.files is not None and (request.content_length or 0) > ctx.files.inline_limit:
            # The claim check: only a body larger than the limit can hold initial_data that is.
            initial_data = await check_in(ctx.files, job_id, "initial_data", initial_data)
        now = ctx.clock()
        state = JobState(
            id=job_id,
            blueprint=bp.name,
            client_id=client.id,
            client_plan=client.plan,
            client_params=dict(client.params),
            current_state=bp.start_state,
            initial_data=initial_data,
            created_at=now,
            updated_at=now,
            webhook_url=job.webhook_url,
            dispatch_timeout=job.dispatch_timeout,
            result_timeout=job.result_timeout,
            max_transitions=job.max_transitions or ctx.settings.max_transitions_per_job,
            security=job.security,
            metadata=job.metadata,
            allowed_skills=job.allowed_skills,
            traceparent=traceparent_of(request),
        )
        if not await ctx.store.create_job(state):
            raise web.HTTPConflict(text=f"job {state.id} exists already")
        ctx.stats.jobs_created[bp.name] += 1
        try:
            # The state as stored rides along: the job actor steps on it without loading it.
            created = encode_state(msgspec.structs.replace(state, version=1))
            start = envelope(state.id, Start(created), now)
            if state.traceparent is not None:
                start = msgspec.structs.replace(start, traceparent=state.traceparent)
            await ctx.broker.publish(JOBS, start)
        except Exception as exc:
            await _abandon(ctx, state, f"could not be queued: {exc}")
            raise web.HTTPServiceUnavailable(text="the job could not be queued; try again") from exc
        log_context.bind(job_id=state.id, blueprint=bp.name, state=state.current_state)
        log.debug("job created", extra={"trace_id": trace_id_of(state.traceparent)})
        return json_response({"status": "accepted", "job_id": state.id}, status=202)

    return create_job


async def _abandon(ctx: GatewayContext, state: JobState, error: str) -> None:
    state.status, state.error, state.finished_at = FAILED, error, ctx.clock()
    try:
        await ctx.store.commit_job(state, expected_version=1)
    except Exception:
        log.exception("job %s could not be marked failed after a failed publish", state.id)


async def get_job(request: web.Request) -> web.Response:
    ctx = context_of(request)
    client = authenticate_client(request)
    job_id = request.match_info["job_id"]
    # Together: one round trip on a pipelining store. Progress is shown to the owner only.
    reads = asyncio.gather(ctx.store.load_job(job_id), ctx.store.get_progress(job_id))
    state, progress = await alongside(client_limit(request, client), reads)
    if state is None and ctx.archive is not None:
        state = await ctx.archive.load_job(job_id)
    view = job_view(_owned(state, client.id, job_id), progress)
    if view.get("result"):  # s3:// URIs of the job's files as presigned URLs
        view["result"] = await presigned(ctx, request, job_id, view["result"])
    if view.get("data_metadata"):
        view["data_metadata"] = await with_urls(ctx, request, job_id, view["data_metadata"])
    return json_response(view)


async def list_jobs(request: web.Request) -> web.Response:
    """The caller's jobs, newest first, filtered and paged (``transport.gateway.job_listing``),
    with the progress of those not yet terminal."""
    ctx = context_of(request)
    query = parse_query((await client_of(request)).id, request.query)
    jobs = await (ctx.archive or ctx.store).list_jobs(query)
    # The progress of the jobs still running, read together (pipelined on a remote store).
    progress = await asyncio.gather(*(ctx.store.get_progress(s.id) for s in jobs if not s.terminal))
    running = iter(progress)
    response = json_response([job_view(state, None if state.terminal else next(running)) for state in jobs])
    if len(jobs) == query.limit:
        response.headers[NEXT_CURSOR] = encode_cursor(jobs[-1].created_at, jobs[-1].id)
    return response


async def cancel_job(request: web.Request) -> web.Response:
    """Ask the job to cancel; the job actor decides. Repeating the request is harmless: the
    envelope id is derived from the job id, so the job applies the cancel once."""
    ctx = context_of(request)
    state = await own_job(request, ctx)
    if state.terminal:
        raise web.HTTPConflict(text=f"job {state.id} is already {state.status}")
    await ctx.broker.publish(JOBS, envelope(state.id, Cancel(), ctx.clock(), id=f"cancel:{state.id}"))
    return json_response({"status": "cancellation_request_accepted", "job_id": state.id})


async def retry_job(request: web.Request) -> web.Response:
    """Redrive a failed or quarantined job from the state it stopped in. The envelope id names
    the job's version, so repeating the request before the job moves on redrives it once."""
    ctx = context_of(request)
    state = await own_job(request, ctx)
    if state.status not in (FAILED, QUARANTINED):
        raise web.HTTPConflict(text=f"job {state.id} is {state.status}; only failed or quarantined jobs are retried")
    redrive = Redrive(requested_by=f"client:{state.client_id}")
    await ctx.broker.publish(JOBS, envelope(state.id, redrive, ctx.clock(), id=f"redrive:{state.id}:{state.version}"))
    return json_response({"status": "retry_accepted", "job_id": state.id}, status=202)


async def quarantined_jobs(request: web.Request) -> web.Response:
    """The caller's quarantined jobs, longest in quarantine first (``?limit=``, default 100)."""
    ctx = context_of(request)
    client_id = (await client_of(request)).id
    raw = request.query.get("limit", "100")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LISTED:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LISTED}, got {raw!r}")
    jobs = await ctx.store.quarantined_jobs(client_id, int(raw))
    return json_response([job_view(state, None) for state in jobs])


async def job_history(request: web.Request) -> web.Response:
    """What happened to the job, oldest first (``engine.history``); from the archive once the
    store's copy has gone."""
    ctx = context_of(request)
    client_id = (await client_of(request)).id
    job_id = request.match_info["job_id"]
    state = await ctx.store.load_job(job_id)
    if state is None and ctx.archive is not None:
        _owned(await ctx.archive.load_job(job_id), client_id, job_id)
        return json_response([event.view() for event in await ctx.archive.load_history(job_id)])
    _owned(state, client_id, job_id)
    return json_response([event.view() for event in await ctx.store.load_history(job_id)])


async def list_workers(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await client_of(request)
    workers = await ctx.store.list_workers(ctx.clock())
    return json_response([worker_view(w) for w in workers])


async def no_such_blueprint(request: web.Request) -> web.Response:
    """``POST /api/v1/jobs/{name}`` for a name no blueprint serves: 404, not the 405 the
    ``GET /api/v1/jobs/{job_id}`` route would otherwise cause."""
    raise web.HTTPNotFound(text=f"no blueprint is served at {request.path}")


async def disabled(request: web.Request) -> web.Response:
    """Every client route while ``ENABLE_CLIENT_API=false`` (Pure Holon mode): 404, saying why."""
    raise web.HTTPNotFound(
        text=f"the client API is disabled on this orchestrator (ENABLE_CLIENT_API=false): no {request.path}"
    )


async def own_job(request: web.Request, ctx: GatewayContext) -> JobState:
    client_id = (await client_of(request)).id
    job_id = request.match_info["job_id"]
    return _owned(await ctx.store.load_job(job_id), client_id, job_id)


def _owned(state: JobState | None, client_id: str, job_id: str) -> JobState:
    if state is None or state.client_id != client_id:
        raise web.HTTPNotFound(text=f"job {job_id} not found")
    return state


def job_view(state: JobState, progress: tuple[float, str | None] | None) -> dict[str, Any]:
    """What a client sees of a job; ``result`` only once the job is terminal, ``schedule`` and
    ``scheduled_for`` only for a job a schedule made, ``trace_id`` only for a job with a trace."""
    view: dict[str, Any] = {
        "id": state.id,
        "job_id": state.id,
        "status": state.status,
        "blueprint_name": state.blueprint,
        "current_state": state.current_state,
        "progress": progress[0] if progress else None,
        "progress_message": progress[1] if progress else None,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "finished_at": state.finished_at,
        "error": state.error,
        "parent_job_id": state.parent_id,
        "child_job_id": state.child.id if state.child is not None else None,
    }
    if state.traceparent is not None:  # the job's trace, to find it in the tracing backend
        view["trace_id"] = trace_id_of(state.traceparent)
    if state.schedule is not None:  # made by the scheduler: which schedule, for which fire
        view["schedule"], view["scheduled_for"] = state.schedule, state.scheduled_for
    if state.status == WAITING_FOR_HUMAN and state.approval is not None:
        view["approval"] = state.approval.view()
    if state.data_metadata:
        view["data_metadata"] = state.data_metadata
    if state.terminal:
        view["result"] = state.state_history
    return view


def worker_view(record: WorkerRecord) -> dict[str, Any]:
    return {
        "worker_id": record.worker_id,
        "worker_type": record.worker_type,
        "skills": record.skills,
        "hot_skills": record.hot_skills,
        "status": record.status,
        "load": len(record.current_tasks),
        "last_seen": record.last_seen,
    }
