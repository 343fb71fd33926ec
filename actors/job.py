"""The job actor: one virtual actor per job, keyed by job id, one message at a time.

For each message: load the state; if the message was applied already (a redelivery), publish
the effects it produced again if they may not have gone out, and stop; else run the step
function, commit the state with a compare-and-set together with its outbox, then publish the
outbox. The runtime acks only after this returns. A node dying anywhere in between leads to a
redelivery that either re-runs the step (nothing was committed) or re-publishes the outbox.

The state a message committed is kept in memory for the job's next message, so a live job costs
one store round trip per message (the commit), not two. The copy is only a guess: the commit is
a compare-and-set, so if anyone else wrote the job since (its shard moved to another node and
back), the commit fails, the copy is dropped and the message is applied again on fresh state.
A copy is dropped, too, whenever handling fails, and when its job ends.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from actors.publisher import apply_once
from engine.job import JobState, Outgoing
from engine.messages import Envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.step import apply, fail_unrunnable
from transport.broker import Broker
from transport.store import Store

log = logging.getLogger(__name__)


class JobActor:
    def __init__(
        self,
        registry: BlueprintRegistry,
        store: Store,
        broker: Broker,
        policy: StepPolicy,
        clock: Callable[[], float],
        *,
        cached_jobs: int = 10_000,
    ) -> None:
        self._registry, self._store, self._broker = registry, store, broker
        self._policy, self._clock = policy, clock
        self._cached: OrderedDict[str, JobState] = OrderedDict()  # job id -> state as last committed here
        self._cache_size = cached_jobs

    async def handle(self, env: Envelope) -> None:
        # Taken out while the message is handled: a failure leaves no half-applied copy behind.
        state = self._cached.pop(env.key, None) or await self._store.load_job(env.key)
        if state is None:
            log.warning("message %s for unknown job %s dropped", env.id, env.key)
            return
        step = partial(self._step, state, env)
        await apply_once(state, env, step, self._store.commit_job, self._broker, self._store)
        if not state.terminal and self._cache_size > 0:
            self._cached[env.key] = state
            if len(self._cached) > self._cache_size:
                self._cached.popitem(last=False)

    async def _step(self, state: JobState, env: Envelope) -> list[Outgoing]:
        bp = self._registry.get(state.blueprint)
        if bp is not None:
            return await apply(bp, self._policy, state, env, self._clock())
        state.remember(env.id)
        if state.terminal:
            return []
        return fail_unrunnable(state, f"blueprint {state.blueprint!r} is not loaded on this node", self._clock())
