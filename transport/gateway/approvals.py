"""Human approval: ``POST /_public/webhooks/approval/{job_id}`` decides what a waiting job does.

Who may decide: the job's owner (its ``X-Client-Token``) or whoever holds the job's approval
token (``token`` in the body, or ``?token=``), which the owner sees in the job's status and in the
``job_waiting_for_human`` webhook event. The token is single use: the first decision claims the
approval in the store, and any later one, by token or by owner, is refused with 409. A decision
that is not one of the approval's transitions is refused with 400 and changes nothing.

The claim is made before the decision is published; if the publish fails the claim is given
back and the caller gets 503, so a decision is never lost to a taken claim.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from rxon.constants import AUTH_HEADER_CLIENT

from engine import job as j
from engine.messages import Decision, envelope
from engine.routes import JOBS
from transport.gateway.auth import client_of
from transport.gateway.bodies import read_object
from transport.gateway.context import context_of
from transport.gateway.errors import json_response

# How long a decision's claim is kept: far longer than any redelivery of it takes.
CLAIM_SECONDS = 7 * 24 * 3600.0


async def decide(request: web.Request) -> web.Response:
    ctx = context_of(request)
    job_id = request.match_info["job_id"]
    body = await read_object(request)
    decision = body.get("decision")
    if not isinstance(decision, str) or not decision:
        raise web.HTTPBadRequest(text="'decision' is required: one of the transitions the job waits on")
    token = body.get("token", request.query.get("token"))
    state = await ctx.store.load_job(job_id)
    by = await _decider(request, state, token)
    if state is None:
        raise web.HTTPNotFound(text=f"job {job_id} not found")
    approval = state.approval
    if state.status != j.WAITING_FOR_HUMAN or approval is None:
        raise web.HTTPConflict(text=f"job {job_id} is {state.status}, not waiting for a human decision")
    if decision not in approval.transitions:
        allowed = ", ".join(sorted(approval.transitions))
        raise web.HTTPBadRequest(text=f"decision {decision!r} is not one of {allowed}")
    if not await ctx.store.claim(f"approval:{approval.id}", CLAIM_SECONDS):
        raise web.HTTPConflict(text=f"job {job_id} has a decision already")
    body_msg = Decision(approval_id=approval.id, decision=decision, by=by, at=ctx.clock())
    try:
        await ctx.broker.publish(JOBS, envelope(job_id, body_msg, ctx.clock(), id=f"decision:{approval.id}"))
    except Exception as exc:
        await ctx.store.release_claim(f"approval:{approval.id}")
        raise web.HTTPServiceUnavailable(text="the decision could not be queued; try again") from exc
    return json_response({"status": "approval_received", "job_id": job_id, "decision": decision})


async def _decider(request: web.Request, state: j.JobState | None, token: object) -> str:
    """Who decides: ``client:<id>`` for the owner, ``approval_token`` for the token's holder; 401
    with neither, 403 for a wrong one. Another client's job reads as not found (404), as elsewhere."""
    if request.headers.get(AUTH_HEADER_CLIENT):
        client_id = (await client_of(request)).id
        if state is not None and state.client_id != client_id:
            raise web.HTTPNotFound(text=f"job {request.match_info['job_id']} not found")
        return f"client:{client_id}"
    if not isinstance(token, str) or not token:
        raise web.HTTPUnauthorized(text=f"send the approval token ('token') or the owner's {AUTH_HEADER_CLIENT}")
    expected = state.approval.token if state is not None and state.approval is not None else ""
    if not expected or not hmac.compare_digest(token.encode("utf-8", "surrogateescape"), expected.encode()):
        raise web.HTTPForbidden(text="invalid approval token")
    return "approval_token"
