"""Leader locks with fencing tokens: at most one holder of a name at a time.

A holder acquires a lock for ``ttl`` seconds and must renew it before it lapses; a holder that
dies simply stops renewing, and another takes over once the TTL has passed. Every acquisition
gets a fencing token larger than any before it, so a paused ex-leader that wakes up can tell
(``renew`` fails) and stop, and anything it writes can be told apart by its older token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Locks(Protocol):
    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        """The fencing token if ``holder`` now holds ``name`` (fresh, or already its own), else None."""

    async def renew(self, name: str, holder: str, token: int, ttl: float) -> bool:
        """Extend the hold; False if the lock lapsed or belongs to someone else (leadership lost)."""

    async def release(self, name: str, holder: str, token: int) -> None:
        """Give the lock up if still held with ``token``; otherwise do nothing."""


class Membership(Protocol):
    async def beat(self, member: str, ttl: float) -> list[str]:
        """Say ``member`` is alive for ``ttl`` seconds more; returns every live member, sorted."""

    async def leave(self, member: str) -> None: ...


class MemoryLocks:
    """One process's locks and membership, on an injectable clock (seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, int, float]] = {}  # name -> holder, token, expires at
        self._fence: dict[str, int] = {}
        self._members: dict[str, float] = {}  # member -> expires at

    async def beat(self, member: str, ttl: float) -> list[str]:
        now = self._clock()
        self._members[member] = now + ttl
        return sorted(m for m, expires in self._members.items() if expires > now)

    async def leave(self, member: str) -> None:
        self._members.pop(member, None)

    def _current(self, name: str) -> tuple[str, int, float] | None:
        held = self._held.get(name)
        if held is not None and held[2] <= self._clock():
            del self._held[name]
            return None
        return held

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        held = self._current(name)
        if held is not None:
            if held[0] != holder:
                return None
            token = held[1]
        else:
            token = self._fence[name] = self._fence.get(name, 0) + 1
        self._held[name] = (holder, token, self._clock() + ttl)
        return token

    async def renew(self, name: str, holder: str, token: int, ttl: float) -> bool:
        held = self._current(name)
        if held is None or held[:2] != (holder, token):
            return False
        self._held[name] = (holder, token, self._clock() + ttl)
        return True

    async def release(self, name: str, holder: str, token: int) -> None:
        held = self._current(name)
        if held is not None and held[:2] == (holder, token):
            del self._held[name]
