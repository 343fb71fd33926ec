"""What the RabbitMQ adapter's tests share: the inboxes a test opens, closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conformance.conftest import Inbox


@pytest.fixture
async def inboxes() -> AsyncIterator[list[Inbox]]:
    """Append each ``Inbox`` a test opens; they are closed when it ends."""
    opened: list[Inbox] = []
    yield opened
    for inbox in opened:
        await inbox.close()
