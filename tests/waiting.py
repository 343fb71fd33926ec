"""Waiting in tests without sleeping for a time (STYLE.md, rule 11)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition()`` (plain or async) holds; fail after ``timeout`` s, a
    hang guard, not a wait: it returns as soon as the condition holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        held = condition()
        if await held if inspect.isawaitable(held) else held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0)
