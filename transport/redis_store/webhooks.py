"""Webhook deliveries on Redis: a hash of the records, a sorted set of the pending ones by due
time (a claim moves the score to its lease end), a sorted set per client of the dead ones.

Every change is one Lua script (``lua/*_webhook*.lua``), so a claim, a settlement or a burial is
atomic against every other node. Commands are sent directly, not through the batcher: nothing
here is on a job's path.
"""

from __future__ import annotations

from typing import cast

import msgspec
from redis.typing import EncodableT

from actors.ports.store import WebhookDelivery
from engine.defaults import WEBHOOK_DEAD_LIMIT
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder

_delivery = msgspec.msgpack.Decoder(WebhookDelivery)


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisWebhooks(RedisPart):
    """``WebhookStore`` on Redis."""

    def __init__(self, client: RedisClient, *, dead_limit: int = WEBHOOK_DEAD_LIMIT) -> None:
        RedisPart.__init__(self, client)
        self._dead_limit = dead_limit
        self._webhook_keys = [keys.webhook_items(self._prefix), keys.webhook_due(self._prefix)]
        self._add_webhook, self._claim_webhooks = client.script("add_webhook"), client.script("claim_webhooks")
        self._webhook_sent, self._retry_webhook = client.script("webhook_sent"), client.script("retry_webhook")
        self._bury_webhook = client.script("bury_webhook")
        self._redeliver_webhook = client.script("redeliver_webhook")

    async def add_webhook(self, delivery: WebhookDelivery) -> bool:
        args: list[EncodableT] = [delivery.id, repr(delivery.next_at), encoder.encode(delivery)]
        return bool(await self._add_webhook(keys=self._webhook_keys, args=args))

    async def claim_webhooks(self, now: float, limit: int, until: float) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        raws: list[bytes] = await self._claim_webhooks(keys=self._webhook_keys, args=[repr(now), limit, repr(until)])
        return [msgspec.structs.replace(_delivery.decode(raw), next_at=until) for raw in raws]

    async def webhook_sent(self, delivery_id: str) -> None:
        await self._webhook_sent(keys=self._webhook_keys, args=[delivery_id])

    async def retry_webhook(self, delivery: WebhookDelivery) -> bool:
        args: list[EncodableT] = [delivery.id, repr(delivery.next_at), encoder.encode(delivery)]
        return bool(await self._retry_webhook(keys=self._webhook_keys, args=args))

    async def bury_webhook(self, delivery: WebhookDelivery) -> bool:
        dead_at = delivery.dead_at if delivery.dead_at is not None else delivery.next_at
        dead_keys = [*self._webhook_keys, keys.webhook_dead(self._prefix, delivery.client_id)]
        args: list[EncodableT] = [delivery.id, repr(dead_at), encoder.encode(delivery), self._dead_limit]
        return bool(await self._bury_webhook(keys=dead_keys, args=args))

    async def dead_webhooks(self, client_id: str, limit: int) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        ids = cast("list[bytes]", await self._redis.zrevrange(keys.webhook_dead(self._prefix, client_id), 0, limit - 1))
        if not ids:
            return []
        raws = cast("list[bytes | None]", await self._redis.hmget(keys.webhook_items(self._prefix), ids))
        return [_delivery.decode(raw) for raw in raws if raw is not None]

    async def redeliver_webhook(
        self, client_id: str, delivery_id: str, now: float, give_up_at: float
    ) -> WebhookDelivery | None:
        dead_key = keys.webhook_dead(self._prefix, client_id)
        if await self._redis.zscore(dead_key, delivery_id) is None:
            return None
        raw = cast("bytes | None", await self._redis.hget(keys.webhook_items(self._prefix), delivery_id))
        if raw is None:
            return None
        again = msgspec.structs.replace(
            _delivery.decode(raw), next_at=now, give_up_at=give_up_at, attempts=0, dead_at=None
        )
        args: list[EncodableT] = [delivery_id, repr(now), encoder.encode(again)]
        if not await self._redeliver_webhook(keys=[*self._webhook_keys, dead_key], args=args):
            return None
        return again

    async def next_webhook_due(self) -> float | None:
        head = cast(
            "list[tuple[bytes, float]]", await self._redis.zrange(keys.webhook_due(self._prefix), 0, 0, withscores=True)
        )
        return head[0][1] if head else None
