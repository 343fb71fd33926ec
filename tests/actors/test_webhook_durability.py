"""Webhook deliveries outlive the node that queued or claimed them, and nodes sharing Redis never
send one delivery twice at the same time (Redis; skipped locally without it, failing in CI)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from actors.ports.store import WebhookDelivery
from actors.webhook_delivery import WebhookDeliverer
from actors.webhooks import Sender, WebhookIntake
from engine.messages import JobEvent, envelope
from engine.webhooks import WebhookPolicy
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.clock import FakeClock
from tests.support.servers import REDIS_URL
from tests.support.waiting import Eventually
from tests.support.webhooks import Receiver
from transport.redis_store import RedisStore

POLICY = WebhookPolicy(max_age=3600.0, backoff_base=1.0)
TIMEOUT = 10.0
LEASE = 2 * TIMEOUT + 5.0  # the deliverer's claim


def finished(env_id: str) -> Any:
    event = JobEvent(
        job_id=f"job-{env_id}",
        event="job_finished",
        status="finished",
        webhook_url="https://hooks.example/x",
        client_id="client-1",
    )
    return envelope(event.job_id, event, 0.0, id=env_id)


@contextlib.asynccontextmanager
async def delivering(store: RedisStore, send: Sender, clock: FakeClock) -> AsyncIterator[WebhookDeliverer]:
    deliverer = WebhookDeliverer(
        store, send, clock, policy=POLICY, timeout=TIMEOUT, sleep=clock.held_sleep, jitter=lambda: 0.0
    )
    task = asyncio.create_task(deliverer.run())
    try:
        yield deliverer
    finally:
        task.cancel()  # as the node's close does, or its death
        await asyncio.gather(task, return_exceptions=True)


async def test_a_delivery_queued_before_a_restart_is_sent_by_the_next_node(eventually: Eventually) -> None:
    clock, prefix = FakeClock(), unique_prefix()
    async with redis_store(prefix=prefix) as first:
        await WebhookIntake(first, clock, policy=POLICY).handle(finished("evt-1"))
        # the node stops before sending it; another starts on the same Redis
        second = await RedisStore.open(REDIS_URL, prefix=prefix)
        receiver = Receiver(clock=clock)
        try:
            async with delivering(second, receiver, clock) as deliverer:
                await eventually(lambda: bool(receiver.delivered), "the delivery")
                await eventually(lambda: deliverer.in_flight == 0, "the delivery to settle")
            assert await second.next_webhook_due() is None
        finally:
            await second.close()

    [attempt] = receiver.attempts
    assert (attempt.delivery_id, attempt.payload["job_id"]) == ("evt-1", "job-evt-1")


async def test_a_delivery_claimed_by_a_node_that_died_is_sent_again_when_its_claim_lapses(
    eventually: Eventually,
) -> None:
    clock, prefix = FakeClock(), unique_prefix()
    started = asyncio.Event()

    async def hangs(delivery: WebhookDelivery, timestamp: int) -> None:
        started.set()
        await asyncio.Event().wait()

    async with redis_store(prefix=prefix) as first:
        async with delivering(first, hangs, clock) as dying:
            await WebhookIntake(first, clock, policy=POLICY, queued=dying.wake).handle(finished("evt-1"))
            await asyncio.wait_for(started.wait(), 5)
        # the first node died mid-attempt, holding the claim
        second = await RedisStore.open(REDIS_URL, prefix=prefix)
        receiver = Receiver(clock=clock)
        try:
            async with delivering(second, receiver, clock):
                await eventually(lambda: clock.sleepers > 0, "the second node to wait")
                assert receiver.attempts == []  # the claim still holds
                clock.advance(LEASE)
                await eventually(lambda: bool(receiver.delivered), "the delivery after the lease")
        finally:
            await second.close()

    assert [a.delivery_id for a in receiver.attempts] == ["evt-1"]


async def test_two_nodes_share_the_due_deliveries_and_send_each_once(eventually: Eventually) -> None:
    clock, prefix = FakeClock(), unique_prefix()
    count = 60
    async with redis_store(prefix=prefix) as first:
        second = await RedisStore.open(REDIS_URL, prefix=prefix)
        a, b = Receiver(clock=clock), Receiver(clock=clock)
        try:
            intake = WebhookIntake(first, clock, policy=POLICY)
            for i in range(count):
                await intake.handle(finished(f"evt-{i:03d}"))
            async with delivering(first, a, clock) as one, delivering(second, b, clock) as two:
                one.wake()
                two.wake()
                await eventually(lambda: len(a.attempts) + len(b.attempts) >= count, "every delivery")
                await eventually(lambda: one.in_flight == two.in_flight == 0, "the attempts to settle")
        finally:
            await second.close()

    sent = [x.delivery_id for x in a.attempts + b.attempts]
    assert sorted(sent) == [f"evt-{i:03d}" for i in range(count)]  # each exactly once, none lost
