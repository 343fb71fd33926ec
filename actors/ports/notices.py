"""In-process fan-out of best-effort notices to any number of subscribers.

The in-memory store announces through a ``Fanout`` directly; the Redis store feeds one with what
its pub/sub listener receives, so subscribers see the same thing on both.

Ordering: a subscriber sees items in the order they were published to the fanout. Nothing is
kept for a subscriber that was not open when an item was published, and a subscriber that falls
``capacity`` items behind loses newer items (logged) rather than holding memory for a reader that
is stuck: these are notices whose loss something else covers (a heartbeat, a periodic re-check).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Generic, Self, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_CAPACITY = 1024


class Subscription(Generic[T]):
    """The items published to a ``Fanout`` since the subscription was opened, as an async
    iterator. Iteration ends when the subscription or its fanout is closed (items still queued are
    dropped). ``close()`` is idempotent; ``with`` closes it on exit."""

    def __init__(self, fanout: Fanout[T], capacity: int) -> None:
        self._fanout, self._capacity = fanout, capacity
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._fanout.discard(self)
        self._ready.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def put(self, item: T) -> None:
        """Queue ``item`` for the reader (dropped, with a warning, if the reader is ``capacity``
        items behind or the subscription is closed)."""
        if self._closed:
            return
        if len(self._items) >= self._capacity:
            log.warning("a subscriber is %d notices behind; dropping %r", self._capacity, item)
            return
        self._items.append(item)
        self._ready.set()


class Fanout(Generic[T]):
    """Hands every published item to every open subscription, synchronously (no task of its own)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription[T]] = set()
        self._closed = False

    def subscribe(self, capacity: int = DEFAULT_CAPACITY) -> Subscription[T]:
        """A subscription that sees every item published from now on; on a closed fanout, one
        that is already over."""
        subscription = Subscription(self, capacity)
        if self._closed:
            subscription.close()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def publish(self, items: Iterable[T]) -> None:
        subscriptions = list(self._subscriptions)
        for item in items:
            for subscription in subscriptions:
                subscription.put(item)

    def discard(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every subscription; later ones end at once. Idempotent."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()
