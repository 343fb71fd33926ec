"""``GET /api/v1/jobs/{id}/events``: a job's history, live, as Server-Sent Events.

Each history event is sent as ``event: history`` with ``id:`` its position in the history (1 for
the oldest) and the event's view (as ``GET .../history`` shows it) as ``data:``. Whenever the
job's status, state, progress or ``state_history`` changes, an ``event: job`` carries its view
(as ``GET /api/v1/jobs/{id}`` shows it, without presigned URLs, and with ``state_history``).
Once the job is terminal and every event has been sent, ``event: end`` closes the stream.

Order and resumption: events go out oldest first. A client that reconnects with
``Last-Event-ID: n`` gets the events after the n-th (``EventSource`` does so by itself). The store
keeps a bounded history; once it has dropped the oldest events, positions shift and a resumed
stream may skip or repeat a few — the full history stays at ``GET .../history``.

Resources: the gateway polls the store (``POLL_SECONDS``), holds no subscription, writes a comment
every ``HEARTBEAT_SECONDS`` so proxies keep the connection, and closes the stream after
``MAX_STREAM_SECONDS`` (the client reconnects and resumes). A closed client connection ends it at
the next write. Owner only: another client's job is 404, as elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from aiohttp import web

from engine.job import JobState
from transport.gateway.client_api import job_view, own_job
from transport.gateway.context import GatewayContext, context_of

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0


async def job_events(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    state: JobState | None = await own_job(request, ctx)
    sent = _last_event_id(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    started = last_write = loop.time()
    shown: object = None
    with contextlib.suppress(ConnectionResetError):
        while (current := state) is not None and loop.time() - started < MAX_STREAM_SECONDS:
            history = await ctx.store.load_history(current.id)
            for position, event in enumerate(history[sent:], start=sent + 1):
                await _send(response, "history", event.view(), position)
                last_write = loop.time()
            sent = max(sent, len(history))
            if (view := await _view(ctx, current)) != shown:
                await _send(response, "job", view)
                shown, last_write = view, loop.time()
            if current.terminal:
                await _send(response, "end", {"status": current.status})
                break
            if loop.time() - last_write >= HEARTBEAT_SECONDS:
                await response.write(b": heartbeat\n\n")
                last_write = loop.time()
            await asyncio.sleep(POLL_SECONDS)
            state = await ctx.store.load_job(current.id)  # None once the store's copy has gone: done
    return response


async def _view(ctx: GatewayContext, state: JobState) -> dict[str, object]:
    """The job view, with ``state_history`` as it stands (the view shows it as ``result`` only
    once the job is terminal; the owner watching a job sees it grow)."""
    return {**job_view(state, await ctx.store.get_progress(state.id)), "state_history": state.state_history}


async def _send(response: web.StreamResponse, kind: str, data: object, event_id: int | None = None) -> None:
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    await response.write(head.encode() + b"data: " + orjson.dumps(data) + b"\n\n")


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID", request.query.get("last_event_id", "0")).strip()
    if not raw.isdigit():
        raise web.HTTPBadRequest(text=f"Last-Event-ID must be a whole number (an event's id), got {raw!r}")
    return int(raw)
