"""Waiting in tests without sleeping for a time (STYLE.md, rule 11)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

Condition = Callable[[], bool | Awaitable[bool]]


async def eventually(condition: Condition, what: str = "condition", timeout: float = 5.0, every: float = 0.0) -> None:
    """Yield to the loop until ``condition()`` (plain or async) holds; fail after ``timeout`` s.

    It waits on a condition, not for a time: it returns on the first loop turn where the
    condition holds. The deadline only turns a hang into a readable failure. ``every`` spaces
    the checks of a condition that asks another process (an HTTP call, a file listing), so
    that the wait does not flood it; in-process conditions leave it at 0 (every loop turn).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        held = condition()
        if await held if inspect.isawaitable(held) else held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


Eventually = Callable[..., Awaitable[None]]  # the type of ``eventually``, for fixtures that hand it out
