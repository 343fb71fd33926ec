"""What a job's webhook is told, and when a failing delivery is tried again. Pure.

- ``job_event`` / ``worker_event``: the ``JobEvent`` a step (or the gateway, for progress) sends
  to the events mailbox. Its envelope id becomes the delivery's ``webhook-id``; a worker event's
  is derived from the RXON ``event_id``, so a resent event is one delivery.
- ``payload``: the JSON object the receiver gets, in the seed's shape: ``event``, ``job_id``,
  ``status``, ``result``, ``error``, plus ``approval`` (waiting for a person) or the worker
  event's ``worker_id``, ``task_id`` and ``timestamp``.
- ``WebhookPolicy``: the retry curve and the age after which a delivery is given up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from engine import defaults, routes
from engine.job import JobState, Outgoing
from engine.messages import JobEvent, WorkerEvent, envelope

WORKER_EVENT_PREFIX = "worker_event:"
_EVENT_IDS = uuid.UUID("6b1f3c1e-2f4d-4c56-9a51-0d1f3b8e7a20")  # namespace of worker-event webhook ids


def job_event(
    state: JobState,
    event: str,
    now: float,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    approval: dict[str, Any] | None = None,
) -> Outgoing:
    """``event`` of ``state`` (which has a ``webhook_url``) for its webhook; a fresh envelope id."""
    body = JobEvent(
        job_id=state.id,
        event=event,
        status=state.status,
        webhook_url=state.webhook_url,
        result=result,
        error=error,
        approval=approval,
        client_id=state.client_id,
    )
    return Outgoing(routes.EVENTS, envelope(state.id, body, now))


def worker_event(state: JobState, msg: WorkerEvent, now: float) -> Outgoing:
    """``worker_event:<type>`` for ``state``'s webhook: the event's payload as ``result``, the job's
    status when the event came. The envelope id derives from ``msg.event_id`` (``webhook_id_of``)."""
    body = JobEvent(
        job_id=state.id,
        event=WORKER_EVENT_PREFIX + msg.event_type,
        status=state.status,
        webhook_url=state.webhook_url,
        result=msg.payload,
        client_id=state.client_id,
        details={"worker_id": msg.worker_id, "task_id": msg.task_id, "timestamp": msg.timestamp},
    )
    return Outgoing(routes.EVENTS, envelope(state.id, body, now, id=webhook_id_of(msg.event_id)))


def webhook_id_of(event_id: str) -> str:
    """The ``webhook-id`` of a worker event's delivery: the same for the same RXON ``event_id``,
    and a plain hex string whatever the worker chose (it goes into an HTTP header)."""
    return uuid.uuid5(_EVENT_IDS, event_id).hex


def payload(event: JobEvent) -> dict[str, Any]:
    """The JSON object a webhook receives for ``event``."""
    body: dict[str, Any] = {
        "event": event.event,
        "job_id": event.job_id,
        "status": event.status,
        "result": event.result,
        "error": event.error,
    }
    if event.approval is not None:
        body["approval"] = event.approval
    if event.details:
        body.update(event.details)
    return body


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """How long a failing delivery is retried, and how far apart.

    After its ``n``-th failed attempt a delivery waits ``min(backoff_base * 2**(n-1), backoff_cap)``
    seconds times a jitter factor in [0.5, 1.0), so receivers coming back are not hit by every
    delivery at once. A delivery whose next attempt would fall more than ``max_age`` seconds after
    it was queued is given up instead (``due_after`` returns None).
    """

    max_age: float = defaults.WEBHOOK_MAX_AGE_SECONDS
    backoff_base: float = defaults.WEBHOOK_BACKOFF_BASE_SECONDS
    backoff_cap: float = defaults.WEBHOOK_BACKOFF_CAP_SECONDS

    def backoff(self, attempts: int, jitter: float) -> float:
        """The wait after ``attempts`` failed attempts; ``jitter`` is uniform in [0, 1)."""
        raw = min(self.backoff_base * 2.0 ** max(attempts - 1, 0), self.backoff_cap)
        return raw * (0.5 + jitter / 2)

    def due_after(self, attempts: int, now: float, give_up_at: float, jitter: float) -> float | None:
        """When to try again after ``attempts`` failed attempts, the last at ``now``; None once that
        would be after ``give_up_at``."""
        at = now + self.backoff(attempts, jitter)
        return None if at > give_up_at else at


DEFAULT_POLICY = WebhookPolicy()  # the defaults of engine/defaults.py
