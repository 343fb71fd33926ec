"""The read-only routes the web console (and any client) reads beside the job routes.

- ``GET /api/v1/blueprints`` — the registered blueprints: name, the path that creates a job,
  start state, states (sorted), end states.
- ``GET /api/v1/dashboard`` — upstream's dashboard (``{"jobs": {"queued", <status>: n},
  "workers": {"total", <status>: n}}``) and more: the caller's job counts by status (among its
  newest ``DASHBOARD_JOBS`` jobs; ``jobs_truncated`` says when there were more; ``queued``: those
  not yet started), waiting tasks per skill (``queues``: the skills of the registered workers),
  workers by status, and the schedules.
- ``GET /api/v1/jobs/{id}/files`` — the job's files in the object store (owner only; 501 without
  an object store), sorted by name: ``name``, ``size``, ``download`` (the token-guarded route) and
  ``url`` (a presigned S3 URL, or a gateway-signed one for the local store, valid for
  ``PRESIGNED_URL_SECONDS``: a plain link, as a browser follows it).

All are client-authenticated and count once against the caller's rate limit. They read; they
change nothing, so repeating them is harmless.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

from aiohttp import web

from actors.ports.archive import JobQuery
from engine.job import PENDING
from transport.gateway.auth import client_of
from transport.gateway.client_api import own_job
from transport.gateway.context import context_of
from transport.gateway.errors import json_response
from transport.gateway.object_links import link
from transport.gateway.schedule_api import schedule_view

DASHBOARD_JOBS = 1000  # the newest jobs of the caller the dashboard counts


async def list_blueprints(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await client_of(request)
    views = [
        {
            "name": bp.name,
            "path": ctx.registry.path_of(bp),
            "start_state": bp.start_state,
            "states": sorted(bp.states),
            "end_states": sorted(name for name, spec in bp.states.items() if spec.is_end),
        }
        for bp in ctx.registry
    ]
    return json_response(sorted(views, key=lambda view: str(view["name"])))


async def dashboard(request: web.Request) -> web.Response:
    """One listing, one worker read, one queue read and one schedule read; not atomic together."""
    ctx = context_of(request)
    client = await client_of(request)
    now = ctx.clock()
    jobs = await (ctx.archive or ctx.store).list_jobs(JobQuery(client_id=client.id, limit=DASHBOARD_JOBS))
    workers = await ctx.store.list_workers(now)
    skills = sorted({skill for w in workers for skill in w.skills})
    depths = await ctx.store.queue_depths(skills)
    last = await ctx.store.last_fires([s.name for s in ctx.schedules]) if ctx.schedules else {}
    jobs_by_status = dict(sorted(Counter(job.status for job in jobs).items()))
    body: dict[str, Any] = {
        # upstream's shape: "queued" beside the counts (here the jobs not yet started), "total" workers
        "jobs": {"queued": jobs_by_status.get(PENDING, 0), **jobs_by_status},
        "jobs_truncated": len(jobs) == DASHBOARD_JOBS,
        "queues": depths,
        "workers": {"total": len(workers), **dict(sorted(Counter(w.status for w in workers).items()))},
        "schedules": [schedule_view(s, last.get(s.name), now) for s in ctx.schedules],
    }
    return json_response(body)


async def list_files(request: web.Request) -> web.Response:
    ctx = context_of(request)
    state = await own_job(request, ctx)
    if ctx.files is None:
        raise web.HTTPNotImplemented(text="no object store is configured: jobs have no files")
    prefix = f"{state.id}/"
    infos = await ctx.files.objects.list(prefix)
    views = []
    for info in sorted(infos, key=lambda i: i.key):
        name = info.key.removeprefix(prefix)
        download = f"/api/v1/jobs/{quote(state.id)}/files/download/{quote(name)}"
        url = await link(ctx, request, "GET", info.key)  # needs no token: a plain link downloads it
        views.append({"name": name, "size": info.size, "download": download, "url": url})
    return json_response(views)
