"""Webhooks without I/O: the payload shape, the retry curve, signatures, and which addresses
may be called."""

from __future__ import annotations

import base64
import socket

import pytest

from engine.job import FAILED, FINISHED, JobState
from engine.messages import JobEvent
from engine.webhooks import WebhookPolicy, job_event, payload
from tests.support.webhooks import verify
from transport.webhook_addresses import Resolve, check_url, refusal
from transport.webhook_signing import generate_secret, headers, key_of, signature

# -- payloads -------------------------------------------------------------------------------------


def state(status: str) -> JobState:
    return JobState(
        id="job-1",
        blueprint="bp",
        client_id="client-1",
        current_state="end",
        initial_data={},
        created_at=1.0,
        updated_at=1.0,
        status=status,
        webhook_url="https://hooks.example/x",
    )


def test_a_finished_job_has_the_seed_payload() -> None:
    out = job_event(state(FINISHED), "job_finished", 5.0, result={"output_path": "/videos/result.mp4"})

    assert isinstance(out.envelope.body, JobEvent)
    assert payload(out.envelope.body) == {
        "event": "job_finished",
        "job_id": "job-1",
        "status": "finished",
        "result": {"output_path": "/videos/result.mp4"},
        "error": None,
    }
    assert out.envelope.body.client_id == "client-1"


def test_a_failed_job_has_its_error_and_no_result() -> None:
    out = job_event(state(FAILED), "job_failed", 5.0, error="worker returned status 'weird'")

    assert isinstance(out.envelope.body, JobEvent)
    assert payload(out.envelope.body) == {
        "event": "job_failed",
        "job_id": "job-1",
        "status": "failed",
        "result": None,
        "error": "worker returned status 'weird'",
    }


def test_each_job_event_has_an_envelope_id_of_its_own() -> None:
    first, second = (job_event(state(FINISHED), "job_finished", 5.0) for _ in range(2))

    assert first.envelope.id != second.envelope.id


# -- the retry curve -------------------------------------------------------------------------------

POLICY = WebhookPolicy(max_age=3600.0, backoff_base=1.0, backoff_cap=60.0)


def test_the_backoff_doubles_with_jitter_between_half_and_all_of_the_step() -> None:
    assert [POLICY.backoff(n, jitter=0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert POLICY.backoff(3, jitter=0.999) == pytest.approx(4.0, rel=1e-3)


def test_the_backoff_is_capped() -> None:
    assert POLICY.backoff(30, jitter=0.0) == 30.0


def test_no_attempt_is_scheduled_past_the_give_up_time() -> None:
    assert POLICY.due_after(1, now=100.0, give_up_at=101.0, jitter=0.0) == 100.5
    assert POLICY.due_after(4, now=100.0, give_up_at=101.0, jitter=0.0) is None


# -- signatures ------------------------------------------------------------------------------------


def test_the_standard_webhooks_test_vector() -> None:
    """The published example of the Standard Webhooks specification (and its libraries' tests)."""
    key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    signed = signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')

    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_verify_with_an_independent_receiver_and_not_when_tampered() -> None:
    key, body = key_of(generate_secret()), b'{"event":"job_finished"}'

    sent = headers(key, "d1", 1_700_000_000, body)

    assert sent["webhook-id"] == "d1"
    assert sent["webhook-timestamp"] == "1700000000"
    assert verify(key, sent, body)
    assert not verify(key, sent, body + b" ")
    assert not verify(key, {**sent, "webhook-timestamp": "1700000001"}, body)
    assert not verify(b"another key of sixteen", sent, body)


def test_secret_forms() -> None:
    raw = bytes(range(24))

    assert key_of("whsec_" + base64.b64encode(raw).decode()) == raw
    assert key_of("sixteen bytes ok") == b"sixteen bytes ok"
    assert generate_secret() != generate_secret()
    with pytest.raises(ValueError, match="16 bytes"):
        key_of("short")
    with pytest.raises(ValueError, match="base64"):
        key_of("whsec_%%%")


# -- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "224.0.1.1",  # multicast
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None


def resolving(*addresses: str) -> Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.5"):
        await check_url("https://hooks.example/x", allow_private=False, resolve=resolving("93.184.216.34", "10.0.0.5"))

    await check_url("https://hooks.example/x", allow_private=False, resolve=resolving("93.184.216.34"))


async def test_literal_addresses_are_checked_without_resolving() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_ALLOW_PRIVATE"):
        await check_url("http://[::1]:8080/x", allow_private=False, resolve=resolving())

    await check_url("http://93.184.216.34/x", allow_private=False, resolve=resolving())


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ValueError, match="does not resolve"):
        await check_url("https://nowhere.invalid/x", allow_private=False, resolve=nowhere)


async def test_private_addresses_are_allowed_when_asked_without_resolving() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("no lookup when private addresses are allowed")

    await check_url("http://localhost:9000/x", allow_private=True, resolve=never)


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "hooks.example/x", "http:///x"])
async def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        await check_url(url, allow_private=True)
