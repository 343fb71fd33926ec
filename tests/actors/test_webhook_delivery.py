"""The webhook intake and deliverer on the in-memory store and a fake clock: retries with
back-off, the dead list, refusals, timeouts and bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from actors.ports.store import WebhookDelivery
from actors.stats import Stats
from actors.webhook_delivery import WebhookDeliverer
from actors.webhooks import Sender, WebhookIntake
from engine import StateMachineBlueprint, routes
from engine.errors import WebhookFailed
from engine.job import JobState
from engine.messages import JobEvent, Start, envelope
from engine.policy import StepPolicy
from engine.step import apply
from engine.webhooks import WebhookPolicy
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from tests.support.webhooks import Receiver
from transport.memory import MemoryStore

URL = "https://hooks.example/jobs"
POLICY = WebhookPolicy(max_age=3600.0, backoff_base=1.0, backoff_cap=60.0)


def finished(env_id: str = "evt-1", webhook_url: str | None = URL, job_id: str = "job-1") -> Any:
    event = JobEvent(
        job_id=job_id,
        event="job_finished",
        status="finished",
        webhook_url=webhook_url,
        result={"x": 1},
        client_id="client-1",
    )
    return envelope(job_id, event, 0.0, id=env_id)


@contextlib.asynccontextmanager
async def delivering(
    store: MemoryStore, send: Sender, clock: FakeClock, **options: Any
) -> AsyncIterator[WebhookDeliverer]:
    """A deliverer running on ``clock`` (jitter 0: each wait is half the back-off step)."""
    options.setdefault("policy", POLICY)
    deliverer = WebhookDeliverer(store, send, clock, sleep=clock.held_sleep, jitter=lambda: 0.0, **options)
    task = asyncio.create_task(deliverer.run())
    try:
        yield deliverer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def queue(store: MemoryStore, clock: FakeClock, *envs: Any, deliverer: WebhookDeliverer | None = None) -> None:
    intake = WebhookIntake(store, clock, policy=POLICY, queued=deliverer.wake if deliverer else lambda: None)
    for env in envs:
        await intake.handle(env)


async def next_attempt(store: MemoryStore, clock: FakeClock, receiver: Receiver, eventually: Eventually) -> None:
    """Move the clock to the next due delivery and wait for its attempt."""
    made = len(receiver.attempts)
    due = await store.next_webhook_due()
    assert due is not None
    clock.set(due)
    await eventually(lambda: len(receiver.attempts) > made, "the next attempt")


async def test_a_receiver_that_fails_its_first_attempts_gets_the_delivery_after_backoff(
    eventually: Eventually,
) -> None:
    store, clock, stats = MemoryStore(), FakeClock(), Stats()
    receiver = Receiver(failures=4, clock=clock)
    start = clock()
    async with delivering(store, receiver, clock, stats=stats) as deliverer:
        await queue(store, clock, finished(), deliverer=deliverer)
        await eventually(lambda: len(receiver.attempts) == 1, "the first attempt")
        for _ in range(4):
            await next_attempt(store, clock, receiver, eventually)
        await eventually(lambda: deliverer.in_flight == 0, "the last attempt to settle")

    assert [a.at - start for a in receiver.attempts] == [0.0, 0.5, 1.5, 3.5, 7.5]  # 0.5, 1, 2, 4 s apart
    assert [a.accepted for a in receiver.attempts] == [False] * 4 + [True]
    assert {a.delivery_id for a in receiver.attempts} == {"evt-1"}  # one webhook-id for every attempt
    assert [a.timestamp for a in receiver.attempts] == [int(a.at) for a in receiver.attempts]
    assert receiver.delivered == [
        {"event": "job_finished", "job_id": "job-1", "status": "finished", "result": {"x": 1}, "error": None}
    ]
    assert await store.next_webhook_due() is None  # delivered: gone
    assert stats.webhooks == {"failed": 4, "delivered": 1}


async def test_a_delivery_failing_for_longer_than_its_max_age_goes_to_the_dead_list(eventually: Eventually) -> None:
    store, clock = MemoryStore(), FakeClock()
    receiver = Receiver(failures=100, clock=clock)
    start = clock()
    short, stats = WebhookPolicy(max_age=10.0, backoff_base=1.0, backoff_cap=60.0), Stats()
    async with delivering(store, receiver, clock, policy=short, stats=stats) as deliverer:
        await WebhookIntake(store, clock, policy=short, queued=deliverer.wake).handle(finished())
        await eventually(lambda: len(receiver.attempts) == 1, "the first attempt")
        for _ in range(4):
            await next_attempt(store, clock, receiver, eventually)
        await eventually(lambda: deliverer.in_flight == 0, "the last attempt to settle")

    # the sixth attempt would come at +15.5, past the 10 s window
    assert [a.at - start for a in receiver.attempts] == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert await store.next_webhook_due() is None
    [dead] = await store.dead_webhooks("client-1", 10)
    assert (dead.id, dead.attempts, dead.dead_at) == ("evt-1", 5, start + 7.5)
    assert dead.last_error == "answered 503 (attempt 5)"
    assert dead.last_attempt_at == start + 7.5
    assert orjson.loads(dead.body)["event"] == "job_finished"
    assert stats.webhooks == {"failed": 5, "dead": 1}


async def test_a_refused_address_goes_to_the_dead_list_at_once(eventually: Eventually) -> None:
    store, clock = MemoryStore(), FakeClock()
    attempts: list[str] = []

    async def refuse(delivery: WebhookDelivery, timestamp: int) -> None:
        attempts.append(delivery.id)
        raise WebhookFailed("refused: 10.0.0.1 is a private address", retryable=False)

    async with delivering(store, refuse, clock) as deliverer:
        await queue(store, clock, finished(), deliverer=deliverer)
        await eventually(lambda: bool(attempts), "the attempt")
        await eventually(lambda: deliverer.in_flight == 0, "the attempt to settle")

    [dead] = await store.dead_webhooks("client-1", 10)
    assert (dead.attempts, dead.last_error) == (1, "refused: 10.0.0.1 is a private address")


async def test_a_receiver_that_never_answers_holds_one_slot_for_one_timeout(eventually: Eventually) -> None:
    """Deliveries to a hanging receiver time out; the others go through the remaining slot, and
    never more than ``concurrency`` attempts are in flight."""
    store, clock = MemoryStore(), FakeClock()
    delivered: list[str] = []
    in_flight, most = 0, 0

    async def send(delivery: WebhookDelivery, timestamp: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            if delivery.id == "hangs":
                await asyncio.Event().wait()
            await asyncio.sleep(0)
            delivered.append(delivery.id)
        finally:
            in_flight -= 1

    async with delivering(store, send, clock, concurrency=2, timeout=0.05) as deliverer:
        envs = [finished("hangs"), *(finished(f"fast-{i}", job_id=f"job-{i}") for i in range(5))]
        await queue(store, clock, *envs, deliverer=deliverer)
        await eventually(lambda: len(delivered) == 5, "the other deliveries")
        await eventually(lambda: deliverer.in_flight == 0, "the hanging attempt to time out")

    assert sorted(delivered) == [f"fast-{i}" for i in range(5)]
    assert most == 2
    [claimed] = await store.claim_webhooks(clock() + 10, 10, clock() + 100)
    assert (claimed.id, claimed.attempts, claimed.last_error) == ("hangs", 1, "no answer within 0.05 s")


async def test_a_redelivered_event_is_queued_once(eventually: Eventually) -> None:
    store, clock = MemoryStore(), FakeClock()

    await queue(store, clock, finished(), finished())  # the mailbox redelivered it

    assert [d.id for d in await store.claim_webhooks(clock(), 10, clock() + 30)] == ["evt-1"]


async def test_an_event_without_a_webhook_url_is_skipped() -> None:
    store, clock = MemoryStore(), FakeClock()

    await queue(store, clock, finished(webhook_url=None))

    assert await store.next_webhook_due() is None


async def test_a_failed_job_is_reported_with_its_error_and_no_result(eventually: Eventually) -> None:
    bp = StateMachineBlueprint("idle")

    @bp.handler_for("start", is_start=True)
    async def start() -> None:
        pass  # chooses no action: the job fails

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = JobState(
        id="job-1",
        blueprint="idle",
        client_id="client-1",
        current_state="start",
        initial_data={},
        created_at=0.0,
        updated_at=0.0,
        webhook_url=URL,
    )
    step = await apply(bp, StepPolicy(), state, envelope("job-1", Start(), 0.0), 0.0)
    [event] = [o.envelope for o in step.out if o.route == routes.EVENTS]
    store, clock = MemoryStore(), FakeClock()
    receiver = Receiver(clock=clock)

    async with delivering(store, receiver, clock) as deliverer:
        await queue(store, clock, event, deliverer=deliverer)
        await eventually(lambda: bool(receiver.delivered), "the delivery")

    [attempt] = receiver.attempts
    assert (attempt.url, attempt.delivery_id) == (URL, event.id)
    assert attempt.payload == {
        "event": "job_failed",
        "job_id": "job-1",
        "status": "failed",
        "result": None,
        "error": state.error,
    }


class SwallowsCancellation(MemoryStore):
    """A real in-memory store whose ``next_webhook_due`` answers even when the caller is cancelled
    while it waits, as redis-py can (a fault-injecting fake, not a mock)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.swallowed = False

    async def next_webhook_due(self) -> float | None:
        self.waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.swallowed = True
        return None


async def test_the_deliverer_stops_even_if_a_store_call_swallows_its_cancellation() -> None:
    store, clock = SwallowsCancellation(), FakeClock()
    deliverer = WebhookDeliverer(store, Receiver(), clock, sleep=clock.held_sleep)
    task = asyncio.create_task(deliverer.run())
    await asyncio.wait_for(store.waiting.wait(), 5)

    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)

    assert store.swallowed
    assert done == {task}
    assert task.cancelled()
