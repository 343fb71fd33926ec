"""The test kit's fake clock (``tests/support/clock.py``) and the sleeps it drives."""

from __future__ import annotations

import asyncio

from tests.support.clock import FakeClock


async def test_sleep_moves_the_time_at_once_and_records_the_delay() -> None:
    clock = FakeClock(100.0)

    await clock.sleep(2.5)
    await clock.sleep(0.5)

    assert clock() == 103.0
    assert clock.slept == [2.5, 0.5]


async def test_a_held_sleep_returns_only_once_the_time_has_moved_on_far_enough() -> None:
    clock = FakeClock(100.0)
    sleeper = asyncio.ensure_future(clock.held_sleep(10.0))
    await asyncio.sleep(0)
    assert clock.sleepers == 1

    clock.advance(9.0)
    await asyncio.sleep(0)
    assert not sleeper.done()

    clock.advance(1.0)
    await asyncio.wait_for(sleeper, 1.0)
    assert clock.sleepers == 0


async def test_a_cancelled_held_sleep_is_forgotten_and_time_never_goes_back() -> None:
    clock = FakeClock(100.0)
    sleeper = asyncio.ensure_future(clock.held_sleep(10.0))
    await asyncio.sleep(0)
    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)

    assert clock.sleepers == 0
    clock.set(50.0)
    assert clock() == 100.0
