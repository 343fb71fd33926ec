"""Fixtures of the actor tests: the kit's condition waiter and a fake clock (``tests/support``)."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from tests.support.waiting import eventually as _eventually


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
