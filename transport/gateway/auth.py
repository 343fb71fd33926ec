"""Authentication of clients (``X-Client-Token``) and workers (``X-Worker-Token``), and their
rate limits (``transport/gateway/limits.py``).

Tokens are never compared in clear: a request's token is hashed (SHA-256) and looked up among the
digests of the configured ones (``clients.toml`` and ``CLIENT_TOKEN``; ``workers.toml``), and
``GLOBAL_WORKER_TOKEN`` is compared in constant time. A missing client token is 401 and a wrong
one 403. For workers both are 401, because the RXON SDK reacts to 401 (token refresh,
re-registration) and treats 403 as final. An unset (empty) token matches nothing.

A worker's own token (``workers.toml``) names it: it may act as that worker only, for the skills
listed, and it is the secret its signatures are checked with. ``GLOBAL_WORKER_TOKEN`` may act as
any worker not listed in ``workers.toml``. Either way the token the request presents is the
signature secret, as the SDK signs with the token it sends.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from aiohttp import web
from rxon.constants import AUTH_HEADER_CLIENT, AUTH_HEADER_WORKER, AUTH_HEADER_WORKER_ID

from transport.app.clients import Client, client_id_of, client_rate
from transport.app.toml_tables import token_digest
from transport.gateway.context import context_of
from transport.gateway.limits import API, Check

__all__ = [
    "WorkerIdentity",
    "authenticate_client",
    "authenticate_worker",
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
    """Who a worker request is from. ``worker_id``: the worker its own token names, or the
    ``X-Worker-ID`` header sent with the global token (None if absent); ``secret``: the token
    presented (what its signatures are made with); ``skills``: those it may take (None: any);
    ``reserved``: the workers with their own tokens, which the global token may not act as."""

    worker_id: str | None
    secret: str
    skills: frozenset[str] | None = None
    reserved: frozenset[str] = frozenset()
    own_token: bool = False

    @property
    def rate_key(self) -> str:
        return self.worker_id or "unnamed"

    def require(self, worker_id: str, where: str) -> None:
        """403 unless this identity may act as ``worker_id`` (named by ``where``)."""
        if self.worker_id is not None and worker_id != self.worker_id:
            whose = "the worker token" if self.own_token else AUTH_HEADER_WORKER_ID
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
    """The worker behind the request: 401 if the token is missing or wrong, 403 if it may not
    act as ``X-Worker-ID``. No store call but, every few seconds, the worker table's
    (``worker_tokens``)."""
    token = request.headers.get(AUTH_HEADER_WORKER)
    if not token:
        raise web.HTTPUnauthorized(text=f"missing {AUTH_HEADER_WORKER} header")
    ctx = context_of(request)
    header_id = request.headers.get(AUTH_HEADER_WORKER_ID) or None
    table = await ctx.workers.table()
    grant = table.grants.get(token_digest(token).hex())
    if grant is not None:
        identity = WorkerIdentity(grant.worker_id, token, grant.skills, own_token=True)
        if header_id is not None:
            identity.require(header_id, AUTH_HEADER_WORKER_ID)
        return identity
    if not _same(token, ctx.settings.global_worker_token):
        raise web.HTTPUnauthorized(text=f"invalid {AUTH_HEADER_WORKER}")
    identity = WorkerIdentity(header_id, token, reserved=table.listed())
    if header_id is not None:
        identity.require(header_id, AUTH_HEADER_WORKER_ID)
    return identity


def _same(given: str, expected: str) -> bool:
    if not expected:
        return False
    encode = "utf-8", "surrogateescape"
    return hmac.compare_digest(given.encode(*encode), expected.encode(*encode))
