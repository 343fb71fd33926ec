"""The aggregator actor: one virtual actor per fan-out group, keyed by group id, one message at a time.

It owns the group's branches: ``GroupStart`` creates the group and offers every branch; the
branches' pickups, results and deadlines come here instead of to the job, and when the last
branch settles the job gets exactly one ``AggregateDone``. So a job with 10,000 parallel tasks
costs its mailbox one message, and the job's state is not rewritten per result.

Per message, as the job actor does (ADR 0001): load the group; a message applied already (a
redelivery) re-publishes the outbox if it was the last one applied, and changes nothing else;
else run ``engine.fanin.apply``, commit the group with a compare-and-set together with its outbox,
publish the outbox. The runtime acks only after this returns.

Creation is idempotent: ``GroupStart`` (or a ``GroupCancel`` that overtook it, which leaves a
cancelled tombstone) creates the group only if it does not exist yet, so a redelivered start, or a
node that died between creating and committing, offers each branch once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from actors.publisher import apply_once
from engine.fanin import apply
from engine.group import GroupState, new_group
from engine.job import Outgoing
from engine.messages import Envelope, GroupCancel, GroupStart
from engine.policy import StepPolicy
from transport.broker import Broker
from transport.store import Store

log = logging.getLogger(__name__)


class AggregatorActor:
    def __init__(self, store: Store, broker: Broker, policy: StepPolicy, clock: Callable[[], float]) -> None:
        self._store, self._broker, self._policy, self._clock = store, broker, policy, clock

    async def handle(self, env: Envelope) -> None:
        if isinstance(env.body, GroupStart | GroupCancel):
            await self._store.create_group(new_group(env.body, self._clock()))
        group = await self._store.load_group(env.key)
        if group is None:
            log.warning("message %s for unknown group %s dropped", env.id, env.key)
            return
        step = partial(self._step, group, env)
        await apply_once(group, env, step, self._store.commit_group, self._broker, self._store)

    async def _step(self, group: GroupState, env: Envelope) -> list[Outgoing]:
        return apply(self._policy, group, env, self._clock())
