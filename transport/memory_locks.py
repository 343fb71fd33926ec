"""The embedded runtime's leader locks and membership: one process, an injectable clock."""

from __future__ import annotations

from collections.abc import Callable


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
