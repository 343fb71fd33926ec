"""Leader locks with fencing tokens: at most one holder of a name at a time.

A holder acquires a lock for ``ttl`` seconds and must renew it before it lapses; a holder that
dies simply stops renewing, and another takes over once the TTL has passed. Every acquisition
gets a fencing token larger than any before it, so a paused ex-leader that wakes up can tell
(``renew`` fails) and stop, and anything it writes can be told apart by its older token.
"""

from __future__ import annotations

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
