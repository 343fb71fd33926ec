"""The webhook actor: retries a failing receiver with back-off, then delivers the payload once."""

from __future__ import annotations

from typing import Any

from actors.webhooks import WebhookActor
from engine import StateMachineBlueprint, routes
from engine.job import JobState
from engine.messages import Envelope, JobEvent, Start, envelope
from engine.policy import StepPolicy
from engine.step import apply
from tests.support.clock import FakeClock

URL = "http://hook.example/jobs"


class Receiver:
    """A real async notifier that raises for its first ``failures`` calls, then records payloads."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, url: str, payload: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"receiver down (call {self.calls})")
        self.delivered.append((url, payload))


def finished_event(webhook_url: str | None = URL) -> Envelope:
    event = JobEvent(job_id="job-1", event="job_finished", status="finished", webhook_url=webhook_url, result={"x": 1})
    return envelope("job-1", event, 0.0)


async def test_a_failing_receiver_is_retried_with_backoff_then_gets_the_payload() -> None:
    receiver, clock = Receiver(failures=2), FakeClock()
    actor = WebhookActor(receiver, attempts=5, backoff=0.5, sleep=clock.sleep)

    await actor.handle(finished_event())

    assert receiver.calls == 3
    assert clock.slept == [0.5, 1.0]
    assert receiver.delivered == [
        (URL, {"event": "job_finished", "job_id": "job-1", "status": "finished", "result": {"x": 1}, "error": None})
    ]


async def test_the_actor_gives_up_after_its_attempts_without_raising() -> None:
    receiver, clock = Receiver(failures=100), FakeClock()
    actor = WebhookActor(receiver, attempts=3, backoff=0.5, sleep=clock.sleep)

    await actor.handle(finished_event())

    assert receiver.calls == 3
    assert clock.slept == [0.5, 1.0]  # no back-off after the last attempt
    assert receiver.delivered == []


async def test_an_event_without_webhook_url_is_skipped() -> None:
    receiver = Receiver()

    await WebhookActor(receiver, sleep=FakeClock().sleep).handle(finished_event(webhook_url=None))

    assert receiver.calls == 0


async def test_a_failed_job_is_reported_with_its_error_and_no_result() -> None:
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
        client_id="c",
        current_state="start",
        initial_data={},
        created_at=0.0,
        updated_at=0.0,
        webhook_url=URL,
    )
    step = await apply(bp, StepPolicy(), state, envelope("job-1", Start(), 0.0), 0.0)
    [event] = [o.envelope for o in step.out if o.route == routes.EVENTS]
    receiver = Receiver()

    await WebhookActor(receiver, sleep=FakeClock().sleep).handle(event)

    [(url, payload)] = receiver.delivered
    assert url == URL
    assert set(payload) == {"event", "job_id", "status", "result", "error"}
    assert payload["event"] == "job_failed"
    assert payload["status"] == "failed"
    assert payload["result"] is None
    assert payload["error"] == state.error
