"""The SDK's STS calls (ADR 0024), exactly as ``rxon.transports.http`` makes them.

- ``POST /_worker/auth/token``, no body: any valid worker credential (its token, its client
  certificate, or a current access token) gets a new access token and refresh token.
- ``POST /_worker/auth/token/refresh``, body ``{"refresh_token": ...}`` and ``X-Worker-ID``: the
  refresh token is the credential (the access token sent beside it has often expired, which is
  why the SDK refreshes); it is replaced by the one answered. Unknown, expired or replaced (beyond
  the grace) is 401, another worker's 403; a certificate whose CN is not ``X-Worker-ID`` is 403,
  and one whose CN is gets new tokens even when the refresh token no longer works.

Both answer 200 ``{"access_token", "expires_in", "worker_id", "refresh_token"}`` (rxon's
``TokenResponse``) and count ``orchestrator_sts_tokens_issued_total{grant=token|refresh_token}``.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web
from rxon.constants import AUTH_HEADER_WORKER_ID

from actors.ports.store.sts import OTHER_WORKER, STALE
from transport.app.tls import TOKEN_ONLY
from transport.gateway.auth import certificate_identity, worker_of
from transport.gateway.bodies import read_object
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.errors import json_response
from transport.gateway.limits import WORKER
from transport.gateway.sts import Grant


def _enabled(ctx: GatewayContext) -> None:
    if not ctx.sts.enabled:
        raise web.HTTPForbidden(text="STS is off: ORCHESTRATOR_SECRET_KEY is not set")


async def issue_token(request: web.Request) -> web.Response:
    ctx = context_of(request)
    _enabled(ctx)
    identity = await worker_of(request, WORKER)
    if identity.worker_id is None:
        raise web.HTTPBadRequest(text=f"the global worker token names no worker: send {AUTH_HEADER_WORKER_ID}")
    grant = await ctx.sts.issue(identity.worker_id, ctx.clock())
    return _answer(ctx, grant, "token")


async def refresh_token(request: web.Request) -> web.Response:
    ctx = context_of(request)
    _enabled(ctx)
    body = await read_object(request)
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise web.HTTPBadRequest(text="refresh_token must be a non-empty string")
    worker_id = request.headers.get(AUTH_HEADER_WORKER_ID)
    if not worker_id:
        raise web.HTTPBadRequest(text=f"missing {AUTH_HEADER_WORKER_ID} header: the worker the refresh token is for")
    cert_id = certificate_identity(request) if ctx.settings.tls.worker_auth_mode != TOKEN_ONLY else None
    if cert_id is not None and cert_id != worker_id:
        raise web.HTTPForbidden(text=f"{AUTH_HEADER_WORKER_ID} {worker_id!r} does not match the certificate's CN")
    if check := ctx.limiter.checking(WORKER, worker_id, ctx.clock()):  # the worker it claims to be
        await check
    outcome = await ctx.sts.refresh(worker_id, ctx.clock(), refresh)
    if not isinstance(outcome, Grant) and cert_id is not None:
        # The certificate names the worker: it may have new tokens whatever became of its refresh
        # token (a gateway restarted on the in-memory store, a new ORCHESTRATOR_SECRET_KEY). The
        # SDK never falls back to /auth/token once it holds a refresh token: without this it
        # would be refused for good.
        return _answer(ctx, await ctx.sts.issue(worker_id, ctx.clock()), "token")
    if outcome == OTHER_WORKER:
        raise web.HTTPForbidden(text=f"the refresh token is not worker {worker_id!r}'s")
    if not isinstance(outcome, Grant):
        why = "was already used (it is replaced on use)" if outcome == STALE else "is unknown or expired"
        raise web.HTTPUnauthorized(text=f"refresh_token {why}: get a new one from /_worker/auth/token")
    return _answer(ctx, outcome, "refresh_token")


def _answer(ctx: GatewayContext, grant: Grant, kind: str) -> web.Response:
    ctx.stats.sts_tokens[kind] += 1
    return json_response(asdict(grant))
