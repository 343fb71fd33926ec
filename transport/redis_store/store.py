"""``RedisStore``: the parts of the Redis store on one client, and its pub/sub listener."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from actors.stats import Histogram
from engine import defaults
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.cancels import RedisCancels
from transport.redis_store.client import RedisClient
from transport.redis_store.deadlines import RedisDeadlines
from transport.redis_store.groups import RedisGroups
from transport.redis_store.holon import RedisHolonTasks
from transport.redis_store.jobs import RedisJobs
from transport.redis_store.schedules import RedisSchedules
from transport.redis_store.sts import RedisSts
from transport.redis_store.tasks import RedisTasks
from transport.redis_store.tenancy import RedisTenancy
from transport.redis_store.webhooks import RedisWebhooks
from transport.redis_store.workers import RedisWorkers

log = logging.getLogger(__name__)

_RECONNECT_DELAY = 1.0


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisStore(
    RedisJobs,
    RedisGroups,
    RedisDeadlines,
    RedisTasks,
    RedisWorkers,
    RedisCancels,
    RedisSchedules,
    RedisHolonTasks,
    RedisTenancy,
    RedisSts,
    RedisWebhooks,
):
    """``Store`` on Redis. Use ``async with RedisStore(url)`` or ``await RedisStore.open(url)``.

    ``prefix`` namespaces every key (one deployment, or one test); ``poll_interval`` bounds how long
    a waiting taker can miss a lost pub/sub notification; a job keeps its newest ``history_limit``
    history events; ``feed_cap`` > 0 writes the archive feed (``RedisJobs``).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = defaults.NAMESPACE,
        finished_job_ttl: float = defaults.FINISHED_JOB_TTL_SECONDS,
        poll_interval: float = 1.0,
        history_limit: int = defaults.JOB_HISTORY_LIMIT,
        priority_aging: float = defaults.TASK_PRIORITY_AGING_SECONDS,
        feed_cap: int = 0,
    ) -> None:
        client = RedisClient(url, prefix)  # one pool for every part, no I/O yet
        RedisJobs.__init__(
            self, client, finished_job_ttl=finished_job_ttl, history_limit=history_limit, feed_cap=feed_cap
        )
        RedisGroups.__init__(self, client, finished_job_ttl=finished_job_ttl)
        RedisDeadlines.__init__(self, client)
        RedisTasks.__init__(self, client, poll_interval=poll_interval, priority_aging=priority_aging)
        RedisWorkers.__init__(self, client)
        RedisCancels.__init__(self, client)
        RedisSchedules.__init__(self, client)
        RedisHolonTasks.__init__(self, client)
        RedisTenancy.__init__(self, client)
        RedisSts.__init__(self, client)
        RedisWebhooks.__init__(self, client)
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, **options: Any) -> RedisStore:
        store = cls(url, **options)
        await store.connect()
        return store

    @property
    def prefix(self) -> str:
        """The namespace of every key this store writes."""
        return self._prefix

    @property
    def round_trips(self) -> Histogram:
        """Seconds per pipelined batch of the hot path's commands (``transport.redis_batch``)."""
        return self._client.batch.round_trips

    async def connect(self) -> None:
        """Reach the server, subscribe to task and cancellation notifications and start the
        listener; idempotent.

        When it returns, the subscription is confirmed: a push made afterwards on any node wakes
        this store's takers, and a cancellation announced afterwards reaches its subscribers. On
        failure (``StoreUnavailable`` when Redis is away) the store is closed.
        """
        if self._listener is not None:
            return
        if self._client.closed:
            raise RuntimeError("RedisStore is closed")
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        try:
            await self._redis.ping()
            channels = [keys.task_channel(self._prefix), keys.cancel_channel(self._prefix)]
            await pubsub.subscribe(*channels)
            for _ in channels:
                confirmation = await pubsub.get_message(timeout=5.0)
                if confirmation is None or confirmation["type"] != "subscribe":
                    raise RedisConnectionError(f"no confirmation of the subscription, got {confirmation!r}")
        except BaseException:
            await self.close()
            raise
        self._listener = asyncio.create_task(self._listen(pubsub), name=f"redis-store-listener:{self._prefix}")

    async def pin_setting(self, variable: str, value: str) -> str:
        """Record ``value`` as the namespace's ``variable`` unless one is recorded; return the
        recorded one (the first start's). One round trip, atomic: two first starts agree."""
        key = keys.pinned_setting(self._prefix, variable)
        recorded = await self._redis.set(key, value, nx=True, get=True)
        if recorded is None:
            return value
        return recorded.decode() if isinstance(recorded, bytes) else str(recorded)

    async def close(self) -> None:
        """Stop the listener, release waiting takers (they return None), end the cancellation
        subscriptions, close the pool. Idempotent.

        Re-raises, after closing everything, an error that killed the listener (a bug)."""
        if self._client.closed:
            return
        self._client.closed = True
        self._wake_all()
        self._cancels.close()
        listener, self._listener = self._listener, None
        try:
            if listener is not None:
                listener.cancel()
                await asyncio.wait({listener})
        finally:
            await self._batch.drain()
            if self._pubsub is not None:
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await self._redis.aclose()
        if listener is not None and not listener.cancelled() and listener.exception() is not None:
            raise RuntimeError("the task-notification listener failed") from listener.exception()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _listen(self, pubsub: PubSub) -> None:
        """Wake this store's takers for every push announced on the task channel, and hand the
        cancellation channel's notices to the subscribers, until cancelled.

        Connection errors are logged and retried; takers then rely on their periodic re-check."""
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                log.warning("task notifications interrupted (%s); reconnecting in %.1f s", exc, _RECONNECT_DELAY)
                self._wake_all()
                await asyncio.sleep(_RECONNECT_DELAY)
                continue
            if message is None:
                continue
            if message["type"] == "message" and bytes(message["channel"]) == self._cancel_channel:
                self._received_cancels(bytes(message["data"]))
            elif message["type"] == "message":
                self._announced(bytes(message["data"]).decode())
            elif message["type"] == "subscribe":  # re-subscribed after a reconnect: the gap went unannounced
                self._wake_all()
