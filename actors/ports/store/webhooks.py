"""Webhook deliveries in the store: durable, claimed with a lease, dead-listed per client.

A delivery is a record (``WebhookDelivery``) that is either *pending* (due at a time, in the
due set) or *dead* (in its client's dead list), until it is sent (then it is gone).

- ``add_webhook`` is idempotent by delivery id (the ``webhook-id``): a redelivered event adds
  nothing while its delivery is pending or dead.
- ``claim_webhooks`` hands each due delivery to one caller at a time: it moves the delivery's due
  time to ``until`` (a lease) in the same atomic step, so other nodes skip it until then. A
  claimer that dies leaves it to be claimed again when the lease lapses (at-least-once: the
  receiver may get the same ``webhook-id`` twice, never none).
- ``webhook_sent``, ``retry_webhook`` and ``bury_webhook`` settle a claimed delivery; each does
  nothing if the delivery is no longer pending (another claimer settled it first), so a late
  claimer cannot bring back a delivery that was sent.
- Dead lists keep the newest ``WEBHOOK_DEAD_LIMIT`` deliveries per client; ``redeliver_webhook``
  makes one pending again, due at once, with a fresh age window and its attempts reset.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One event for one webhook URL. ``body`` is the JSON payload, fixed when the event is queued:
    every attempt signs and sends these bytes, under the same ``id``."""

    id: str
    url: str
    client_id: str
    job_id: str
    event: str
    body: bytes
    created_at: float
    give_up_at: float  # no attempt is scheduled after this (``WEBHOOK_MAX_AGE_SECONDS`` after queueing)
    next_at: float  # when it is due (pending); the lease end while claimed
    attempts: int = 0
    last_attempt_at: float | None = None
    last_error: str | None = None
    dead_at: float | None = None


class WebhookStore(Protocol):
    async def add_webhook(self, delivery: WebhookDelivery) -> bool:
        """Queue ``delivery``, due at ``next_at``; False (and nothing changes) if a delivery with
        its id is pending or dead already."""

    async def claim_webhooks(self, now: float, limit: int, until: float) -> list[WebhookDelivery]:
        """Up to ``limit`` pending deliveries due at ``now``, earliest first, each now due at
        ``until`` instead (claimed: skipped by every other claim until then). One atomic step."""

    async def webhook_sent(self, delivery_id: str) -> None:
        """Forget a delivered delivery, if it is still pending (a dead one stays dead)."""

    async def retry_webhook(self, delivery: WebhookDelivery) -> bool:
        """Store ``delivery`` (its attempts and last error) and make it due at its ``next_at``;
        False (and nothing changes) if it is no longer pending."""

    async def bury_webhook(self, delivery: WebhookDelivery) -> bool:
        """Move a pending delivery to its client's dead list at ``delivery.dead_at``, storing it as
        given; False (and nothing changes) if it is no longer pending. The client's oldest dead
        deliveries beyond the store's limit are deleted."""

    async def dead_webhooks(self, client_id: str, limit: int) -> list[WebhookDelivery]:
        """The client's dead deliveries, the most recently given up first."""

    async def redeliver_webhook(
        self, client_id: str, delivery_id: str, now: float, give_up_at: float
    ) -> WebhookDelivery | None:
        """Take a delivery off the client's dead list and make it pending, due at ``now``, with no
        attempts and ``give_up_at``; returns it, or None if the client has no such dead delivery
        (a second redeliver of the same one gets None)."""

    async def next_webhook_due(self) -> float | None:
        """The earliest due time (or claim's lease end) of any pending delivery; None if none."""
