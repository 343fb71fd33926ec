"""The webhook actor: tells a job's ``webhook_url`` that the job ended.

It consumes the events mailbox, separate from job mailboxes, so a slow or failing receiver never
delays a job. Each notification is tried ``attempts`` times with exponential back-off; delivery is
at-least-once (a redelivered event is sent again), and receivers should de-duplicate by
``job_id`` + ``event``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from engine.messages import Envelope, JobEvent

log = logging.getLogger(__name__)


class Notifier(Protocol):
    async def __call__(self, url: str, payload: dict[str, Any]) -> None:
        """POST ``payload`` to ``url``; raise on failure (network error or non-2xx)."""


class WebhookActor:
    def __init__(
        self,
        notify: Notifier,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._notify, self._attempts, self._backoff, self._sleep = notify, attempts, backoff, sleep

    async def handle(self, env: Envelope) -> None:
        event = env.body
        if not isinstance(event, JobEvent) or not event.webhook_url:
            return
        payload = {
            "event": event.event,
            "job_id": event.job_id,
            "status": event.status,
            "result": event.result,
            "error": event.error,
        }
        if event.approval is not None:
            payload["approval"] = event.approval
        for attempt in range(1, self._attempts + 1):
            try:
                await self._notify(event.webhook_url, payload)
                return
            except Exception as exc:
                log.warning("webhook %s for job %s failed (attempt %d/%d): %s",
                            event.event, event.job_id, attempt, self._attempts, exc)
                if attempt < self._attempts:
                    await self._sleep(self._backoff * 2 ** (attempt - 1))
        log.error("webhook %s for job %s given up after %d attempts", event.event, event.job_id, self._attempts)
