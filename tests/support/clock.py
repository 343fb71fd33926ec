"""One fake clock for every test that takes a clock, and the sleeps it drives."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Epoch seconds that move only when a test, or a component sleeping on it, moves them.

    Call it for the time; pass it where a component takes ``clock``. Pass one of its sleeps where
    a component takes ``sleep``, so no fake-clock test waits on real ticks:

    - ``sleep(s)``: for a back-off on the test's own path (a retry loop the test awaits). Moves
      the time on by ``s`` at once, records ``s`` in ``slept`` and yields to the loop once.
    - ``held_sleep(s)``: for a ticker running in the background (timeouts, shard balancing).
      Returns once the time has moved on by ``s``, that is when the test calls ``advance``: the
      ticker runs once per advance, never on its own.
    """

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time on and wake every ``held_sleep`` whose time has come."""
        self.set(self.now + seconds)

    def set(self, now: float) -> None:
        """Move the time to ``now`` (never back) and wake every ``held_sleep`` whose time has come."""
        self.now = max(self.now, now)
        due = [f for at, f in self._sleepers if at <= self.now]
        self._sleepers = [(at, f) for at, f in self._sleepers if at > self.now]
        for future in due:
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many ``held_sleep`` calls wait for the time to move on."""
        return sum(not f.done() for _, f in self._sleepers)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    async def held_sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        try:
            await future
        finally:
            self._sleepers = [(at, f) for at, f in self._sleepers if f is not future]
