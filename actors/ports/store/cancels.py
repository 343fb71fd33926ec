"""Cancellation notices through the store.

They are a broadcast, not storage: ``announce_cancels`` reaches the ``cancel_notices``
subscriptions open at that moment in every process sharing the store (Redis pub/sub), and
nothing else. A notice lost on the way is covered by the worker's next heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actors.ports.notices import Subscription
from engine.messages import CancelNotice


class CancelBroadcast(Protocol):
    async def announce_cancels(self, notices: Sequence[CancelNotice]) -> None:
        """Hand ``notices`` (each naming its worker) to every ``cancel_notices`` subscription open
        now, in this process and in every other sharing the store, in the order given. Best
        effort: never raises for an unreachable server (it logs); nothing is kept for later."""

    def cancel_notices(self) -> Subscription[CancelNotice]:
        """Subscribe to the notices announced from now on (the store must be connected). Iterate
        it; close it when done. Closing the store ends it."""
