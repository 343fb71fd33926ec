"""Fault-injecting fakes for the actor tests: real in-memory transports that fail on cue."""

from __future__ import annotations

from engine.errors import BrokerUnavailable
from engine.messages import Envelope
from transport.memory import MemoryBroker


class PublishFailsOnce(MemoryBroker):
    """A real in-memory broker whose first publish to ``route`` raises, as if the node lost its
    broker connection right after committing (a fault-injecting fake, not a mock)."""

    def __init__(self, route: str) -> None:
        super().__init__(shards=4)
        self._fail_route = route
        self.failed = False

    async def publish(self, route: str, env: Envelope) -> None:
        if route == self._fail_route and not self.failed:
            self.failed = True
            raise BrokerUnavailable("broker connection lost")
        await super().publish(route, env)
