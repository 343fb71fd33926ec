"""Records the store conformance tests share."""

from __future__ import annotations

from typing import Any

from actors.ports.store import Scheduled, WebhookDelivery
from engine.job import JobState
from engine.messages import TaskOffer, Timeout, envelope

LEASE = 60.0


def job(job_id: str = "job-1", **fields: Any) -> JobState:
    fields.setdefault("initial_data", {"x": 1})
    return JobState(
        id=job_id, blueprint="bp", client_id="c", current_state="start", created_at=1.0, updated_at=1.0, **fields
    )


def offer(task_id: str, type: str = "echo", priority: float = 0.0, job_id: str = "job-1") -> TaskOffer:
    return TaskOffer(job_id=job_id, task_id=task_id, type=type, params={"n": task_id}, priority=priority)


def deadline(envelope_id: str, at: float) -> Scheduled:
    return Scheduled("jobs", envelope("job-1", Timeout("dispatch", "t"), 0.0, id=envelope_id), at)


def delivery(delivery_id: str, next_at: float = 10.0, client_id: str = "c", **fields: Any) -> WebhookDelivery:
    fields.setdefault("give_up_at", 1000.0)
    fields.setdefault("url", "https://hooks.example/x")
    return WebhookDelivery(
        id=delivery_id,
        client_id=client_id,
        job_id="job-1",
        event="job_finished",
        body=b'{"event":"job_finished"}',
        created_at=1.0,
        next_at=next_at,
        **fields,
    )
