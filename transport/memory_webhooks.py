"""Webhook deliveries in memory: the Redis layout's semantics (``transport.redis_store.webhooks``)
in one process. Each method runs without awaiting, so it is atomic as a Lua script is."""

from __future__ import annotations

import msgspec

from actors.ports.store import WebhookDelivery
from engine.defaults import WEBHOOK_DEAD_LIMIT


class MemoryWebhooks:
    """``WebhookStore`` in memory; mixed into ``MemoryStore``."""

    def __init__(self, *, dead_limit: int = WEBHOOK_DEAD_LIMIT) -> None:
        self._webhooks: dict[str, WebhookDelivery] = {}  # pending and dead, by id
        self._webhooks_due: dict[str, float] = {}  # pending: id -> due (or lease end)
        self._webhooks_dead: dict[str, dict[str, float]] = {}  # client id -> id -> dead_at
        self._dead_limit = dead_limit

    async def add_webhook(self, delivery: WebhookDelivery) -> bool:
        if delivery.id in self._webhooks:
            return False
        self._webhooks[delivery.id] = delivery
        self._webhooks_due[delivery.id] = delivery.next_at
        return True

    async def claim_webhooks(self, now: float, limit: int, until: float) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        due = sorted((at, id_) for id_, at in self._webhooks_due.items() if at <= now)[:limit]
        claimed = []
        for _, id_ in due:
            self._webhooks_due[id_] = until
            claimed.append(msgspec.structs.replace(self._webhooks[id_], next_at=until))
        return claimed

    async def webhook_sent(self, delivery_id: str) -> None:
        if self._webhooks_due.pop(delivery_id, None) is not None:
            del self._webhooks[delivery_id]

    async def retry_webhook(self, delivery: WebhookDelivery) -> bool:
        if delivery.id not in self._webhooks_due:
            return False
        self._webhooks[delivery.id] = delivery
        self._webhooks_due[delivery.id] = delivery.next_at
        return True

    async def bury_webhook(self, delivery: WebhookDelivery) -> bool:
        if self._webhooks_due.pop(delivery.id, None) is None:
            return False
        self._webhooks[delivery.id] = delivery
        dead = self._webhooks_dead.setdefault(delivery.client_id, {})
        dead[delivery.id] = delivery.dead_at if delivery.dead_at is not None else delivery.next_at
        if len(dead) > self._dead_limit:
            for _, id_ in sorted((at, i) for i, at in dead.items())[: len(dead) - self._dead_limit]:
                del dead[id_], self._webhooks[id_]
        return True

    async def dead_webhooks(self, client_id: str, limit: int) -> list[WebhookDelivery]:
        dead = self._webhooks_dead.get(client_id, {})
        newest = sorted(((at, id_) for id_, at in dead.items()), reverse=True)[: max(limit, 0)]
        return [self._webhooks[id_] for _, id_ in newest]

    async def redeliver_webhook(
        self, client_id: str, delivery_id: str, now: float, give_up_at: float
    ) -> WebhookDelivery | None:
        dead = self._webhooks_dead.get(client_id, {})
        if dead.pop(delivery_id, None) is None:
            return None
        again = msgspec.structs.replace(
            self._webhooks[delivery_id], next_at=now, give_up_at=give_up_at, attempts=0, dead_at=None
        )
        self._webhooks[delivery_id] = again
        self._webhooks_due[delivery_id] = now
        return again

    async def next_webhook_due(self) -> float | None:
        return min(self._webhooks_due.values(), default=None)
