"""The webhook intake: turns the events mailbox's ``JobEvent``s into stored deliveries.

It consumes the events mailbox, separate from the job mailboxes, and does one store write per
event, so a slow or dead receiver never holds up a job, nor this mailbox: sending is the
``WebhookDeliverer``'s (``actors.webhook_delivery``), from the store.

- The delivery's id, its ``webhook-id``, is the event's envelope id: a redelivered event (the
  job's outbox published again, the mailbox redelivering after a crash) adds nothing while its
  delivery is pending or dead. One that was sent already is queued and sent again: delivery is
  at-least-once, and receivers de-duplicate by ``webhook-id``.
- The body is fixed here (``engine.webhooks.payload``), so every attempt signs the same bytes.
- The message is acked after the delivery is stored: a crash in between redelivers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from actors.ports.store import WebhookDelivery, WebhookStore
from engine import webhooks
from engine.messages import Envelope, JobEvent
from engine.webhooks import DEFAULT_POLICY, WebhookPolicy

_json = msgspec.json.Encoder()


class Sender(Protocol):
    async def __call__(self, delivery: WebhookDelivery, timestamp: int) -> None:
        """POST ``delivery.body`` to ``delivery.url``, signed for ``timestamp`` (epoch seconds);
        return on a 2xx answer, raise ``engine.errors.WebhookFailed`` otherwise."""


class WebhookIntake:
    def __init__(
        self,
        store: WebhookStore,
        clock: Callable[[], float],
        *,
        policy: WebhookPolicy = DEFAULT_POLICY,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        """``queued`` is called after each delivery this intake stores (to wake a deliverer)."""
        self._store, self._clock, self._policy, self._queued = store, clock, policy, queued

    async def handle(self, env: Envelope) -> None:
        event = env.body
        if not isinstance(event, JobEvent) or not event.webhook_url:
            return
        now = self._clock()
        delivery = WebhookDelivery(
            id=env.id,
            url=event.webhook_url,
            client_id=event.client_id,
            job_id=event.job_id,
            event=event.event,
            body=_json.encode(webhooks.payload(event)),
            created_at=now,
            give_up_at=now + self._policy.max_age,
            next_at=now,
        )
        if await self._store.add_webhook(delivery):
            self._queued()
