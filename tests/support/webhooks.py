"""A webhook receiver for tests that run the deliverer without HTTP, and an independent check of
Standard Webhooks signatures (a few lines, as a receiver would write them)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from actors.ports.store import WebhookDelivery
from engine.errors import WebhookFailed


@dataclass
class Attempt:
    at: float  # the receiver's clock when the attempt came
    url: str
    delivery_id: str
    timestamp: int
    payload: dict[str, Any]
    accepted: bool


@dataclass
class Receiver:
    """An ``actors.webhooks.Sender`` that refuses its first ``failures`` attempts (``WebhookFailed``,
    retryable), then accepts; records every attempt. ``clock`` dates them (0 without one)."""

    failures: int = 0
    clock: Callable[[], float] = lambda: 0.0
    attempts: list[Attempt] = field(default_factory=list)

    async def __call__(self, delivery: WebhookDelivery, timestamp: int) -> None:
        accepted = len(self.attempts) >= self.failures
        payload = orjson.loads(delivery.body)
        self.attempts.append(Attempt(self.clock(), delivery.url, delivery.id, timestamp, payload, accepted))
        if not accepted:
            raise WebhookFailed(f"answered 503 (attempt {len(self.attempts)})")

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The payloads accepted, in order."""
        return [a.payload for a in self.attempts if a.accepted]


def verify(secret_key: bytes, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the signature over ``{id}.{timestamp}.{body}`` and compare."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(secret_key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.removeprefix("v1,")) for s in headers["webhook-signature"].split())
