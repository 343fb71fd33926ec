"""Fixtures of the actor tests: a condition waiter bounded by a deadline, and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

Eventually = Callable[..., Awaitable[None]]


async def _eventually(condition: Callable[[], Awaitable[bool]], what: str = "condition", timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition()`` holds; fail after ``timeout`` seconds of loop time.

    This waits on a condition, not for a time: it returns on the first loop turn where the
    condition holds. The deadline only turns a hang into a readable failure.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0)


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


class FakeClock:
    """Epoch seconds that move only when a test says so; pass ``clock`` where a clock is taken."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
