"""Cancellation notices on Redis: one PUBLISH on the store's cancellation channel; the store's
pub/sub listener (``RedisStore``) hands what it hears to this store's subscribers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from redis.exceptions import RedisError

from actors.ports.notices import Fanout, Subscription
from engine.messages import CancelNotice
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder

log = logging.getLogger(__name__)

_notices = msgspec.msgpack.Decoder(list[CancelNotice])


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisCancels(RedisPart):
    """``CancelBroadcast`` on Redis; the subscriptions hear what ``_received_cancels`` is given."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._cancels: Fanout[CancelNotice] = Fanout()
        self._cancel_channel = keys.cancel_channel(client.prefix).encode()

    async def announce_cancels(self, notices: Sequence[CancelNotice]) -> None:
        """One PUBLISH for all of ``notices``; this store's own subscribers hear it back through
        the channel, as every other process's do."""
        if not notices:
            return
        try:
            await self._batch.execute("PUBLISH", self._cancel_channel, encoder.encode(list(notices)))
        except (RedisError, OSError) as exc:
            log.warning("%d cancellation notices lost (%s); heartbeats will tell the workers", len(notices), exc)

    def cancel_notices(self) -> Subscription[CancelNotice]:
        return self._cancels.subscribe()

    def _received_cancels(self, raw: bytes) -> None:
        """Hand a message heard on the cancellation channel to the subscribers (an undecodable
        one is logged and dropped)."""
        try:
            notices = _notices.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("undecodable cancellation notice on %s dropped: %s", self._cancel_channel.decode(), exc)
            return
        self._cancels.publish(notices)
