"""The router: puts each offered task where a worker with its skill can take it.

On the embedded runtime that is the skill's queue in the store; workers long-poll it through the
gateway. A task for a skill no worker has simply waits there until one registers, or until the
job's dispatch deadline fails it. Pushing is idempotent by task id, so redelivery is harmless.
"""

from __future__ import annotations

from engine.messages import Envelope, TaskOffer
from transport.store import Store


class RouterActor:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def handle(self, env: Envelope) -> None:
        if isinstance(env.body, TaskOffer):
            await self._store.push_task(env.body)
