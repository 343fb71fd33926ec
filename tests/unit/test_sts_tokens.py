"""STS access tokens (``transport.gateway.sts``): derived from the server key, checked without the
store, refused when expired, altered, another deployment's, or not tokens at all."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from transport.gateway.sts import TokenService
from transport.memory import MemoryStore

NOW = 1_800_000_000.0


@pytest.fixture
async def sts() -> TokenService:
    return TokenService(MemoryStore(), "secret-key", access_ttl=60, refresh_ttl=600)


async def test_a_token_names_its_worker_until_it_expires(sts: TokenService) -> None:
    grant = await sts.issue("w-1", NOW)

    assert grant.expires_in == 60 and grant.worker_id == "w-1"
    assert sts.access_worker(grant.access_token, NOW + 59.9) == "w-1"
    assert sts.access_worker(grant.access_token, NOW + 60) is None


async def test_another_deployments_token_is_refused(sts: TokenService) -> None:
    other = TokenService(MemoryStore(), "another-key")
    grant = await other.issue("w-1", NOW)

    assert sts.access_worker(grant.access_token, NOW) is None
    assert TokenService(MemoryStore(), "").access_worker(grant.access_token, NOW) is None  # STS off


@pytest.mark.parametrize(
    "token",
    [
        "",
        "sts.",
        "sts.w1",
        "sts.w1.s.123",
        "sts.w1.s.²³.mac",
        "sts.w1.s." + "9" * 5000 + ".mac",
        "sts.w\udcff.s.123.mac",
        "sts.w1.s.-5.mac",
        "static-token",
    ],
)
async def test_garbage_is_refused_not_raised(sts: TokenService, token: str) -> None:
    assert sts.access_worker(token, NOW) is None


async def test_signing_keys_are_the_workers_tokens_of_the_refresh_lifetime(sts: TokenService) -> None:
    clock = FakeClock(NOW)
    first = await sts.issue("w1", clock())
    clock.advance(300)
    second = await sts.issue("w1", clock())
    await sts.issue("w2", clock())

    keys = [token for token, _ in await sts.signing_keys("w1", clock())]
    assert keys == [second.access_token, first.access_token]
    clock.advance(300)  # the first was issued a refresh lifetime ago
    assert [token for token, _ in await sts.signing_keys("w1", clock())] == [second.access_token]
