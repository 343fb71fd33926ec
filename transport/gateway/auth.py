"""Authentication of clients (``X-Client-Token``) and workers (``X-Worker-Token``), and their
rate limits (``transport/gateway/limits.py``).

Tokens are never compared in clear: a request's token is hashed (SHA-256) and looked up among the
digests of the configured ones (``clients.toml`` and ``CLIENT_TOKEN``; ``workers.toml``), and
``GLOBAL_WORKER_TOKEN`` is compared in constant time. A missing client token is 401 and a wrong
one 403. For workers both are 401, because the RXON SDK reacts to 401 (token refresh,
re-registration) and treats 403 as final. An unset (empty) token matches nothing.

A worker's own token (``workers.toml``) names it: it may act as that worker only, for the skills
listed. ``GLOBAL_WORKER_TOKEN`` may act as any worker not listed in ``workers.toml``. A verified
client certificate names the worker by its CN, and an STS access token names the worker it was
issued to (``WORKER_AUTH_MODE``, ADR 0024). Signatures are checked with the token presented, the
global token where it applies, and the worker's recent access tokens (``check_signature``): the
SDK does not always sign with the token it sends.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from rxon.constants import AUTH_HEADER_CLIENT, AUTH_HEADER_WORKER, AUTH_HEADER_WORKER_ID
from rxon.security import extract_cert_identity

from transport.app.clients import Client, client_id_of, client_rate
from transport.app.tls import MTLS_ONLY, TOKEN_ONLY
from transport.app.toml_tables import token_digest
from transport.app.workers import WorkerTable
from transport.gateway.context import GatewayContext, context_of
from transport.gateway.limits import API, Check
from transport.gateway.signing import SignedMessage, check_worker_signature
from transport.gateway.sts import PREFIX as STS_PREFIX

__all__ = [
    "WorkerIdentity",
    "authenticate_client",
    "authenticate_worker",
    "certificate_identity",
    "check_signature",
    "client_id_of",
    "client_limit",
    "client_of",
    "limit_client",
    "limit_worker",
    "worker_limit",
    "worker_of",
]


def authenticate_client(request: web.Request) -> Client:
    """The caller, or 401 (no token) / 403 (no client has this token). No rate limit."""
    token = request.headers.get(AUTH_HEADER_CLIENT)
    if not token:
        raise web.HTTPUnauthorized(text=f"missing {AUTH_HEADER_CLIENT} header")
    client = context_of(request).client_table.find(token)
    if client is None:
        raise web.HTTPForbidden(text=f"invalid {AUTH_HEADER_CLIENT}")
    return client


async def client_of(request: web.Request) -> Client:
    """``authenticate_client``, then one call of the client's ``api`` rate limit (429 if spent)."""
    client = authenticate_client(request)
    await limit_client(request, client)
    return client


async def limit_client(request: web.Request, client: Client) -> None:
    """One call of ``client``'s ``api`` rate limit (429 if spent)."""
    if check := client_limit(request, client):
        await check


def client_limit(request: web.Request, client: Client) -> Check | None:
    """``limit_client`` to run beside a handler's reads (``limits.alongside``); None when off."""
    ctx = context_of(request)
    return ctx.limiter.checking(API, client.id, ctx.clock(), client_rate(client, ctx.settings))


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who a worker request is from. ``worker_id``: the worker its certificate, own token or access
    token names, or the ``X-Worker-ID`` sent with the global token (None if absent); ``secrets``:
    what its signatures may be made with, known without a store read (the token presented, the
    global token); ``skills``: those it may take (None: any); ``reserved``: the workers with their
    own tokens, which the global token may not act as; ``via``: how it was authenticated."""

    worker_id: str | None
    secrets: tuple[str, ...]
    skills: frozenset[str] | None = None
    reserved: frozenset[str] = frozenset()
    own_token: bool = False
    via: str = "token"

    @property
    def rate_key(self) -> str:
        return self.worker_id or "unnamed"

    def require(self, worker_id: str, where: str) -> None:
        """403 unless this identity may act as ``worker_id`` (named by ``where``)."""
        if self.worker_id is not None and worker_id != self.worker_id:
            whose = {"certificate": "the client certificate", "sts": "the access token"}.get(
                self.via, "the worker token" if self.own_token else AUTH_HEADER_WORKER_ID
            )
            raise web.HTTPForbidden(text=f"{where} {worker_id!r} does not match {whose}'s worker {self.worker_id!r}")
        if not self.own_token and worker_id in self.reserved:
            raise web.HTTPForbidden(
                text=f"worker {worker_id!r} has its own token (workers.toml): GLOBAL_WORKER_TOKEN may not act as it"
            )

    def acting_as(self, worker_id: str, where: str) -> WorkerIdentity:
        """This identity, bound to ``worker_id`` (403 unless it may act as it)."""
        self.require(worker_id, where)
        return replace(self, worker_id=worker_id)

    def refused(self, skills: list[str]) -> list[str]:
        """The skills in ``skills`` this worker may not take (``workers.toml``), sorted."""
        return [] if self.skills is None else sorted(set(skills) - self.skills)

    def allowed(self, skills: list[str]) -> list[str]:
        """``skills`` without those this worker may not take, in order."""
        return skills if self.skills is None else [s for s in skills if s in self.skills]


async def worker_of(request: web.Request, kind: str) -> WorkerIdentity:
    """``authenticate_worker``, then one ``kind`` call of the worker's rate limit (429 if spent)."""
    identity = await authenticate_worker(request)
    await limit_worker(request, identity, kind)
    return identity


async def limit_worker(request: web.Request, identity: WorkerIdentity, kind: str) -> None:
    """One ``kind`` call of the worker's rate limit (429 if spent)."""
    if check := worker_limit(request, identity, kind):
        await check


def worker_limit(request: web.Request, identity: WorkerIdentity, kind: str, *, peek: bool = False) -> Check | None:
    """``limit_worker`` (or with ``peek``, whether one call would pass) to run beside a handler's
    reads (``limits.alongside``); None when rate limiting is off."""
    ctx = context_of(request)
    return ctx.limiter.checking(kind, identity.rate_key, ctx.clock(), peek=peek)


async def authenticate_worker(request: web.Request) -> WorkerIdentity:
    """The worker behind the request, by ``WORKER_AUTH_MODE`` (ADR 0024): 401 if no credential
    is valid, 403 if it may not act as ``X-Worker-ID``. No store call but, every few seconds, the
    worker table's (``worker_tokens``).

    - A verified client certificate (not in ``token-only``) names the worker by its CN. A token
      sent beside it must not contradict it: an access token must be valid (401 when expired, so
      the SDK refreshes it) and the CN's; a static token is used only to check signatures.
    - Else the token: the worker's own (``workers.toml``), the global one, or an STS access
      token. ``mtls-only`` refuses the first two.
    """
    ctx = context_of(request)
    token = request.headers.get(AUTH_HEADER_WORKER) or None
    header_id = request.headers.get(AUTH_HEADER_WORKER_ID) or None
    table = await ctx.workers.table()
    mode = ctx.settings.tls.worker_auth_mode
    cert_id = certificate_identity(request) if mode != TOKEN_ONLY else None
    if cert_id is not None:
        return _by_certificate(request, table, cert_id, token, header_id)
    if not token:
        needs = " (or a client certificate)" if ctx.settings.tls.client_certs and mode != TOKEN_ONLY else ""
        raise web.HTTPUnauthorized(text=f"missing {AUTH_HEADER_WORKER} header{needs}")
    identity = _by_static_token(request, table, token, header_id)
    if identity is None:
        worker_id = ctx.sts.access_worker(token, ctx.clock())
        if worker_id is None:
            raise _invalid_token(token)
        identity = WorkerIdentity(
            worker_id, _with_global(ctx, table, worker_id, token), table.skills_of(worker_id), own_token=True, via="sts"
        )
    elif mode == MTLS_ONLY:
        raise web.HTTPUnauthorized(
            text="WORKER_AUTH_MODE is mtls-only: static worker tokens are not accepted "
            "(present a client certificate, or an STS access token)"
        )
    if header_id is not None:
        identity.require(header_id, AUTH_HEADER_WORKER_ID)
    return identity


def certificate_identity(request: web.Request) -> str | None:
    """The CN of the client certificate the TLS handshake verified, or None (no TLS, none sent)."""
    if request.transport is None or not context_of(request).settings.tls.client_certs:
        return None
    return extract_cert_identity(request) or None


def _by_static_token(
    request: web.Request, table: WorkerTable, token: str, header_id: str | None
) -> WorkerIdentity | None:
    """The identity of a worker's own token or the global token, or None if ``token`` is neither."""
    grant = table.grants.get(token_digest(token).hex())
    if grant is not None:
        return WorkerIdentity(grant.worker_id, (token,), grant.skills, own_token=True)
    if _same(token, context_of(request).settings.global_worker_token):
        return WorkerIdentity(header_id, (token,), reserved=table.listed(), via="global")
    return None


def _by_certificate(
    request: web.Request, table: WorkerTable, cert_id: str, token: str | None, header_id: str | None
) -> WorkerIdentity:
    ctx = context_of(request)
    if header_id is not None and header_id != cert_id:
        raise web.HTTPForbidden(
            text=f"{AUTH_HEADER_WORKER_ID} {header_id!r} does not match the client certificate's CN {cert_id!r}"
        )
    presented: tuple[str, ...] = ()
    static = None if token is None else _by_static_token(request, table, token, cert_id)
    if token is not None and static is None and token.startswith(STS_PREFIX):
        issued_to = ctx.sts.access_worker(token, ctx.clock())
        if issued_to is None:
            raise _invalid_token(token)
        if issued_to != cert_id:
            raise web.HTTPForbidden(text=f"the access token is worker {issued_to!r}'s, the certificate {cert_id!r}'s")
        presented = (token,)
    elif token is not None and static is not None and (static.worker_id == cert_id) and cert_id not in static.reserved:
        presented = (token,)  # the worker's own token, or the global one for a worker without one
    secrets = _with_global(ctx, table, cert_id, *presented)
    return WorkerIdentity(cert_id, secrets, table.skills_of(cert_id), own_token=True, via="certificate")


def _with_global(ctx: GatewayContext, table: WorkerTable, worker_id: str, *secrets: str) -> tuple[str, ...]:
    """``secrets``, and the global token when ``worker_id`` may use it (it has none of its own)."""
    known = ctx.settings.global_worker_token
    if known and known not in secrets and worker_id not in table.listed():
        return (*secrets, known)
    return secrets


async def check_signature(
    ctx: GatewayContext,
    identity: WorkerIdentity,
    message: SignedMessage,
    raw: dict[str, Any],
    *,
    worker_id: str,
    now: float,
    ignore_fields: list[str] | None = None,
) -> None:
    """403 unless ``message`` is unsigned or signed by ``worker_id`` with one of the identity's
    secrets or, the SDK signing with an older access token than it sends (ADR 0024), with one of
    the worker's access tokens of the refresh lifetime: the one this gateway saw last at no cost,
    the others for one store read."""
    sts = ctx.sts
    found: dict[str, float] = {}

    async def more() -> list[str]:
        found.update(await sts.signing_keys(worker_id, now))
        return list(found)

    secrets = (*identity.secrets, *sts.remembered(worker_id, now))
    matched = await check_worker_signature(
        message, raw, worker_id=worker_id, secrets=secrets, now=now, more=more, ignore_fields=ignore_fields
    )
    if matched is not None and matched in found:
        sts.remember(worker_id, matched, found[matched])


def _invalid_token(token: str) -> web.HTTPUnauthorized:
    if token.startswith(STS_PREFIX):
        return web.HTTPUnauthorized(text=f"invalid {AUTH_HEADER_WORKER}: an expired or unknown access token")
    return web.HTTPUnauthorized(text=f"invalid {AUTH_HEADER_WORKER}")


def _same(given: str, expected: str) -> bool:
    if not expected:
        return False
    encode = "utf-8", "surrogateescape"
    return hmac.compare_digest(given.encode(*encode), expected.encode(*encode))
