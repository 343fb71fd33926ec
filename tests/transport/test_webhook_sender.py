"""Webhooks over real HTTP: an aiohttp receiver that fails its first attempts, signatures checked
by an independent few-line verifier, refused addresses, redirects and timeouts."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from actors.ports.store import WebhookDelivery
from actors.webhook_delivery import WebhookDeliverer
from actors.webhooks import WebhookIntake
from engine.errors import WebhookFailed
from engine.messages import JobEvent, envelope
from engine.webhooks import WebhookPolicy
from tests.support.waiting import eventually
from tests.support.webhooks import verify
from transport.memory import MemoryStore
from transport.webhook_signing import generate_secret, key_of
from transport.webhooks import HttpSender

KEY = key_of(generate_secret())


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class FlakyReceiver:
    """Answers 503 to its first ``failures`` requests, then 204."""

    failures: int
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(time.monotonic(), dict(request.headers), await request.read()))
        return web.Response(status=503 if len(self.received) <= self.failures else 204)


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyReceiver, TestServer]]:
    receiver = FlakyReceiver(failures=3)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    app.router.add_post("/moved", _redirect)
    app.router.add_post("/slow", _slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield receiver, server
    finally:
        await server.close()


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/hook")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(status=204)


def delivery(url: str) -> WebhookDelivery:
    body = orjson.dumps({"event": "job_finished", "job_id": "job-1", "status": "finished", "result": {}, "error": None})
    return WebhookDelivery(
        id="msg-1",
        url=url,
        client_id="c",
        job_id="job-1",
        event="job_finished",
        body=body,
        created_at=time.time(),
        give_up_at=time.time() + 60,
        next_at=time.time(),
    )


async def test_a_receiver_failing_its_first_three_attempts_gets_one_signed_delivery_on_the_fourth(
    flaky: tuple[FlakyReceiver, TestServer],
) -> None:
    receiver, server = flaky
    store = MemoryStore()
    policy = WebhookPolicy(max_age=60.0, backoff_base=0.2)
    event = JobEvent(job_id="job-1", event="job_finished", status="finished", webhook_url=str(server.make_url("/hook")))
    async with HttpSender(KEY, allow_private=True, timeout=2.0) as sender:
        deliverer = WebhookDeliverer(store, sender, time.time, policy=policy, tick=0.05)
        running = asyncio.create_task(deliverer.run())
        try:
            await WebhookIntake(store, time.time, policy=policy, queued=deliverer.wake).handle(
                envelope("job-1", event, time.time(), id="msg-1")
            )
            await eventually(lambda: len(receiver.received) == 4, "the fourth attempt", timeout=10)
            await eventually(lambda: deliverer.in_flight == 0, "the delivery to settle")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    first = receiver.received[0].at
    offsets = [round(r.at - first, 3) for r in receiver.received]
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    print(f"\nattempts at +{offsets} s; gaps {[round(g, 3) for g in gaps]} s (steps 0.2, 0.4, 0.8 s, jitter x0.5-1)")
    for n, gap in enumerate(gaps, start=1):
        assert 0.2 * 2 ** (n - 1) * 0.5 <= gap  # at least half the step: the jitter's floor
    assert {r.headers["webhook-id"] for r in receiver.received} == {"msg-1"}
    assert all(verify(KEY, r.headers, r.body) for r in receiver.received)
    assert all(r.headers["webhook-timestamp"].isdigit() for r in receiver.received)
    assert abs(int(receiver.received[-1].headers["webhook-timestamp"]) - time.time()) < 5
    assert orjson.loads(receiver.received[-1].body)["event"] == "job_finished"
    assert await store.next_webhook_due() is None  # delivered once, then forgotten


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["literal", "resolved"])
async def test_a_private_address_is_refused_at_delivery_when_not_allowed(
    flaky: tuple[FlakyReceiver, TestServer], host: str
) -> None:
    receiver, server = flaky
    url = f"http://{host}:{server.port}/hook"

    async with HttpSender(KEY, allow_private=False) as sender:
        with pytest.raises(WebhookFailed) as refused:
            await sender(delivery(url), int(time.time()))

    assert not refused.value.retryable
    assert "refused" in refused.value.reason
    assert receiver.received == []


async def test_redirects_are_not_followed(flaky: tuple[FlakyReceiver, TestServer]) -> None:
    receiver, server = flaky

    async with HttpSender(KEY, allow_private=True) as sender:
        with pytest.raises(WebhookFailed, match="answered 302") as failed:
            await sender(delivery(str(server.make_url("/moved"))), int(time.time()))

    assert failed.value.retryable
    assert receiver.received == []


async def test_a_receiver_slower_than_the_timeout_fails_the_attempt(flaky: tuple[FlakyReceiver, TestServer]) -> None:
    _, server = flaky

    async with HttpSender(KEY, allow_private=True, timeout=0.2) as sender:
        with pytest.raises(WebhookFailed, match=r"no answer within 0.2 s") as failed:
            await sender(delivery(str(server.make_url("/slow"))), int(time.time()))

    assert failed.value.retryable


async def test_an_unreachable_receiver_fails_the_attempt_retryably() -> None:
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/gone"))
    await server.close()
    # the server is closed now: nothing listens on its port

    async with HttpSender(KEY, allow_private=True) as sender:
        with pytest.raises(WebhookFailed, match="cannot connect") as failed:
            await sender(delivery(url), int(time.time()))

    assert failed.value.retryable
