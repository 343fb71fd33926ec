"""Fenced leadership of a singleton actor (the timeouts actor, the scheduler) over ``Locks``.

Every node runs the actor; one holds the lock ``name``, renewed every third of ``lease`` seconds,
and the others retry taking it at the same pace, so a leader that dies is replaced within about
``lease * 4/3`` seconds. A renewal that fails ends the leadership at once. Each leadership has
its own fencing token (``token``), larger than any before it: an actor that keeps state per
leadership reloads it when the token changes. Without ``locks`` (a single process) the one
actor always leads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from actors.ports.locks import Locks
from engine import defaults
from engine.errors import Unavailable

log = logging.getLogger(__name__)


class Leadership:
    def __init__(
        self,
        locks: Locks | None,
        name: str,
        holder: str,
        clock: Callable[[], float],
        lease: float = defaults.LOCK_LEASE_SECONDS,
    ) -> None:
        self._locks, self._name, self._holder, self._clock, self._lease = locks, name, holder, clock, lease
        self._token: int | None = None
        self._checked_at = float("-inf")

    @property
    def leading(self) -> bool:
        return self._locks is None or self._token is not None

    @property
    def token(self) -> int | None:
        """The fencing token of the current leadership; None when not leading (or without locks)."""
        return self._token

    @property
    def pace(self) -> float:
        """How often ``lead`` talks to the lock store: a third of the lease."""
        return self._lease / 3

    async def lead(self) -> bool:
        """Take or keep leadership; talks to the lock store at most every ``lease / 3`` seconds."""
        if self._locks is None:
            return True
        now = self._clock()
        if now - self._checked_at < self.pace:
            return self._token is not None
        self._checked_at = now
        if self._token is not None:
            if await self._locks.renew(self._name, self._holder, self._token, self._lease):
                return True
            log.warning("%s lost the %s lock (token %d)", self._holder, self._name, self._token)
            self._token = None
        self._token = await self._locks.acquire(self._name, self._holder, self._lease)
        if self._token is not None:
            log.info("%s leads the %s actor (fencing token %d)", self._holder, self._name, self._token)
        return self._token is not None

    async def resign(self) -> None:
        """Give the lock up if held (idempotent); if the lock store is away, it lapses instead."""
        token, self._token = self._token, None
        self._checked_at = float("-inf")
        if self._locks is not None and token is not None:
            try:
                await self._locks.release(self._name, self._holder, token)
            except Unavailable as exc:
                log.warning("%s could not release the %s lock (%s); it lapses instead", self._holder, self._name, exc)
