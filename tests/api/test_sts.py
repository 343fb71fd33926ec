"""STS as the SDK uses it (ADR 0024): ``/_worker/auth/token`` and ``.../refresh`` with the SDK's
exact calls, access tokens accepted and expiring, refresh tokens rotated with a short grace, and
signatures made with an older access token than the one sent. Each test runs on two gateways
sharing one store, the in-memory one and Redis, and crosses from one gateway to the other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from rxon.models import SecurityContext, TokenResponse, WorkerRegistration
from rxon.security import sign_payload

from engine import defaults
from tests.api.conftest import NOW, SECRET, WORKER_TOKEN, Gateway, wire, worker_headers
from tests.api.tenancy import tenancy_gateway
from tests.api.test_worker_api import registration
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.clock import FakeClock
from transport.app.settings import Settings
from transport.app.tls import TlsSettings
from transport.gateway.context import CONTEXT
from transport.memory import MemoryStore

ACCESS_TTL, REFRESH_TTL = 60, 600
TOKEN, REFRESH, REGISTER = "/_worker/auth/token", "/_worker/auth/token/refresh", "/_worker/workers/register"
SETTINGS = Settings(
    global_worker_token=WORKER_TOKEN,
    orchestrator_secret_key=SECRET,
    sts_access_token_ttl_seconds=ACCESS_TTL,
    sts_refresh_token_ttl_seconds=REFRESH_TTL,
    rate_limiting_enabled=False,
)


@contextlib.asynccontextmanager
async def two_gateways(kind: str, settings: Settings = SETTINGS) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two gateways on one store (as two ``avtomat gateway`` processes on one Redis), one clock."""
    clock = FakeClock(NOW)
    async with contextlib.AsyncExitStack() as stack:
        if kind == "redis":
            prefix = unique_prefix()
            stores: list[Any] = [await stack.enter_async_context(redis_store(prefix)) for _ in range(2)]
        else:
            stores = [MemoryStore()] * 2
            stack.push_async_callback(stores[0].close)
        first = await stack.enter_async_context(tenancy_gateway(settings, stores[0], clock))
        second = await stack.enter_async_context(tenancy_gateway(settings, stores[1], clock))
        yield first, second


@pytest.fixture(params=["memory", "redis"])
async def gws(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Gateway, Gateway]]:
    async with two_gateways(request.param) as pair:
        yield pair


async def issue(gw: Gateway, worker_id: str = "w1", token: str = WORKER_TOKEN) -> TokenResponse:
    """The SDK's first call: no body, its token and id in the headers."""
    headers = {"X-Worker-Token": token, "X-Worker-ID": worker_id}
    resp = await gw.http.post(TOKEN, headers=headers)
    assert resp.status == 200, await resp.text()
    return msgspec.convert(await resp.json(), TokenResponse)


async def refresh(gw: Gateway, refresh_token: str | None, worker_id: str = "w1", token: str = "stale") -> Any:
    """The SDK's refresh: the body, ``X-Worker-ID`` and whatever token it holds (often expired)."""
    headers = {"X-Worker-Token": token, "X-Worker-ID": worker_id, "Content-Type": "application/json"}
    return await gw.http.post(REFRESH, headers=headers, data=wire({"refresh_token": refresh_token}))


async def refreshed(gw: Gateway, refresh_token: str | None, worker_id: str = "w1") -> TokenResponse:
    resp = await refresh(gw, refresh_token, worker_id)
    assert resp.status == 200, await resp.text()
    return msgspec.convert(await resp.json(), TokenResponse)


async def register(gw: Gateway, token: str, signed_with: str | None = None, worker_id: str = "w1") -> Any:
    message: WorkerRegistration = registration(worker_id)
    if signed_with is not None:
        signature = sign_payload(message, signed_with)
        message = msgspec.structs.replace(message, security=SecurityContext(signature=signature, signer_id=worker_id))
    return await gw.http.post(REGISTER, headers=worker_headers(worker_id, token), data=wire(message))


async def error_of(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return str((await resp.json())["error"])


async def test_the_token_call_answers_the_sdk_shape(gws: tuple[Gateway, Gateway]) -> None:
    first, _ = gws
    resp = await first.http.post(TOKEN, headers={"X-Worker-Token": WORKER_TOKEN, "X-Worker-ID": "w1"})

    assert resp.status == 200
    body = await resp.json()
    assert sorted(body) == ["access_token", "expires_in", "refresh_token", "worker_id"]
    assert type(body["expires_in"]) is int and body["expires_in"] == ACCESS_TTL
    assert body["worker_id"] == "w1"
    assert body["access_token"] != body["refresh_token"]
    assert WORKER_TOKEN not in body["access_token"] and SECRET not in body["access_token"]


async def test_an_access_token_is_accepted_on_any_gateway_and_names_its_worker(gws: tuple[Gateway, Gateway]) -> None:
    first, second = gws
    grant = await issue(first)

    assert (await register(second, grant.access_token)).status == 200
    assert (await register(second, grant.access_token, signed_with=grant.access_token)).status == 200
    other = await register(second, grant.access_token, worker_id="w2")
    assert "does not match" in await error_of(other, 403)
    plain = {"X-Worker-Token": grant.access_token}  # no X-Worker-ID: the token names the worker
    assert (await second.http.post(TOKEN, headers=plain)).status == 200


async def test_an_expired_or_forged_access_token_is_refused_with_401(gws: tuple[Gateway, Gateway]) -> None:
    first, second = gws
    grant = await issue(first)
    forged = grant.access_token[:-3] + ("AAA" if not grant.access_token.endswith("AAA") else "BBB")
    longer = grant.access_token.replace(f".{int(NOW) + ACCESS_TTL}.", f".{int(NOW) + 10 * ACCESS_TTL}.")

    for token in (forged, longer):
        assert "access token" in await error_of(await register(second, token), 401)
    first.clock.advance(ACCESS_TTL - 1)
    assert (await register(second, grant.access_token)).status == 200
    first.clock.advance(1)
    assert "expired or unknown access token" in await error_of(await register(second, grant.access_token), 401)


async def test_a_refresh_rotates_the_refresh_token_with_a_short_grace(gws: tuple[Gateway, Gateway]) -> None:
    first, second = gws
    r1 = (await issue(first)).refresh_token
    first.clock.advance(ACCESS_TTL + 5)  # the access token has expired: the SDK's 401 path

    two = await refreshed(second, r1)
    assert two.refresh_token not in (None, r1) and two.worker_id == "w1"
    assert (await register(first, two.access_token)).status == 200
    first.clock.advance(defaults.STS_REFRESH_GRACE_SECONDS)  # the SDK's rotation task spends r1 too
    again = await refreshed(first, r1)
    assert (await register(second, again.access_token)).status == 200
    first.clock.advance(1)  # past the grace: r1 is done
    assert "already used" in await error_of(await refresh(second, r1), 401)
    # both successors still work
    assert (await refreshed(second, two.refresh_token)).worker_id == "w1"
    assert (await refreshed(first, again.refresh_token)).worker_id == "w1"


async def test_a_refresh_token_is_its_workers_only(gws: tuple[Gateway, Gateway]) -> None:
    first, second = gws
    r1 = (await issue(first, "w1")).refresh_token

    assert "not worker 'w2'" in await error_of(await refresh(second, r1, worker_id="w2"), 403)
    assert "unknown or expired" in await error_of(await refresh(second, "rt.made-up"), 401)
    assert (await refreshed(second, r1)).worker_id == "w1"  # the refusals spent nothing


async def test_a_refresh_needs_a_body_and_the_worker_id(gws: tuple[Gateway, Gateway]) -> None:
    first, _ = gws
    r1 = (await issue(first)).refresh_token

    assert "refresh_token" in await error_of(await refresh(first, None), 400)
    no_id = await first.http.post(REFRESH, data=wire({"refresh_token": r1}))
    assert "X-Worker-ID" in await error_of(no_id, 400)
    assert "empty" in await error_of(await first.http.post(REFRESH, headers={"X-Worker-ID": "w1"}), 400)


async def test_the_token_call_needs_a_valid_credential(gws: tuple[Gateway, Gateway]) -> None:
    first, _ = gws
    assert (await first.http.post(TOKEN, headers={"X-Worker-ID": "w1"})).status == 401
    assert (await first.http.post(TOKEN, headers={"X-Worker-Token": "bad", "X-Worker-ID": "w1"})).status == 401
    anonymous = await first.http.post(TOKEN, headers={"X-Worker-Token": WORKER_TOKEN})
    assert "send X-Worker-ID" in await error_of(anonymous, 400)


async def test_a_signature_made_with_an_earlier_access_token_is_accepted(gws: tuple[Gateway, Gateway]) -> None:
    """The SDK's rotation task sets the signing key to the first access token (a1); after it
    expires, its 401 path refreshes the header token only: it sends a3, signs with a1."""
    first, second = gws
    a1 = await issue(first)
    first.clock.advance(ACCESS_TTL)
    a2 = await refreshed(second, a1.refresh_token)
    first.clock.advance(ACCESS_TTL)
    a3 = await refreshed(first, a2.refresh_token)

    for gw in (second, first, second):  # the second time, first has it in mind: no store read
        assert (await register(gw, a3.access_token, signed_with=a1.access_token)).status == 200
    assert (await register(first, a3.access_token, signed_with=WORKER_TOKEN)).status == 200  # the static token
    for key in ("some-random-key", SECRET):
        refused = await register(first, a3.access_token, signed_with=key)
        assert "signature does not match" in await error_of(refused, 403)
    other = await issue(first, "w2")
    refused = await register(first, a3.access_token, signed_with=other.access_token)  # w2's key
    assert "signature does not match" in await error_of(refused, 403)


async def test_a_signing_key_is_accepted_for_the_refresh_lifetime_only(gws: tuple[Gateway, Gateway]) -> None:
    first, second = gws
    a1 = await issue(first)
    latest = a1
    for _ in range(REFRESH_TTL // ACCESS_TTL):
        first.clock.advance(ACCESS_TTL)
        latest = await refreshed(second, latest.refresh_token)
    assert (first.clock() - NOW) == REFRESH_TTL
    refused = await register(first, latest.access_token, signed_with=a1.access_token)
    assert "signature does not match" in await error_of(refused, 403)


async def test_tokens_issued_are_counted_by_grant(gws: tuple[Gateway, Gateway]) -> None:
    first, _ = gws
    grant = await issue(first)
    await refreshed(first, grant.refresh_token)
    await issue(first, token=grant.access_token)

    metrics = await (await first.http.get("/_public/metrics")).text()
    assert 'orchestrator_sts_tokens_issued_total{grant="token"} 2.0' in metrics
    assert 'orchestrator_sts_tokens_issued_total{grant="refresh_token"} 1.0' in metrics


async def test_mtls_only_refuses_static_tokens_but_not_access_tokens() -> None:
    settings = replace(SETTINGS, tls=TlsSettings(worker_auth_mode="mtls-only"))
    async with two_gateways("memory", settings) as (first, _):
        static = await register(first, WORKER_TOKEN)
        assert "mtls-only" in await error_of(static, 401)
        assert (await first.http.post(TOKEN, headers=worker_headers("w1"))).status == 401
        grant = await first.http.app[CONTEXT].sts.issue("w1", NOW)  # as a certificate would have got it
        assert (await register(first, grant.access_token, signed_with=grant.access_token)).status == 200


async def test_token_only_and_mixed_accept_static_and_access_tokens() -> None:
    for mode in ("token-only", "mixed"):
        settings = replace(SETTINGS, tls=TlsSettings(worker_auth_mode=mode))
        async with two_gateways("memory", settings) as (first, _):
            grant = await issue(first)
            assert (await register(first, grant.access_token)).status == 200
            assert (await register(first, WORKER_TOKEN)).status == 200


async def test_an_unset_secret_key_turns_sts_off() -> None:
    async with two_gateways("memory", replace(SETTINGS, orchestrator_secret_key="")) as (first, _):
        off = await first.http.post(TOKEN, headers=worker_headers("w1"))
        assert "ORCHESTRATOR_SECRET_KEY" in await error_of(off, 403)
        assert "ORCHESTRATOR_SECRET_KEY" in await error_of(await refresh(first, "rt.x"), 403)
