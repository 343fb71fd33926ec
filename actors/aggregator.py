"""The aggregator actor: one virtual actor per fan-out group, keyed by group id, one message at a time.

It owns the group's branches: ``GroupStart`` creates the group and offers every branch; the
branches' pickups, results and deadlines come here instead of to the job, and when the last
branch settles the job gets exactly one ``AggregateDone``. So a job with 10,000 parallel tasks
costs its mailbox one message, and the job's state is not rewritten per result.

Per message, as the job actor does (ADR 0001): load the group's header; a message applied already
(a redelivery) re-publishes the outbox if it was the last one applied, and changes nothing else;
else load the one branch the message is about, run ``engine.fanin.apply``, commit the header with
a compare-and-set together with its outbox and the branches the step wrote (one atomic write),
publish the outbox. The runtime acks only after this returns. A lost compare-and-set raises
``VersionConflict``, nothing of this attempt is written, and the runtime re-applies on fresh state.

Each message reads and writes the header and at most one branch, whatever the number of branches
(ADR 0007); the branches are read in full once, by the message that settles the last of them, to
build the ``AggregateDone`` committed in that message's outbox.

Creation is idempotent: ``GroupStart`` (or a ``GroupCancel`` that overtook it, which leaves a
cancelled tombstone) creates the group only if it does not exist yet, so a redelivered start, or a
node that died between creating and committing, offers each branch once.

A ``GroupCancel`` that cancels a running group reads its branches once more, after the commit, to
tell the workers that may be running the unsettled ones (``actors.cancellations``: best effort,
their heartbeats are the sure way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol

from actors.cancellations import AnnouncerStore, announce
from actors.ports.broker import Publisher
from actors.ports.store import DeadlineStore, GroupStore
from actors.publisher import apply_once
from engine import fanin
from engine.group import BranchState, GroupState, new_group
from engine.job import Outgoing
from engine.messages import Envelope, GroupCancel, GroupStart
from engine.policy import StepPolicy

log = logging.getLogger(__name__)


class AggregatorStore(GroupStore, DeadlineStore, AnnouncerStore, Protocol):
    """What the aggregator needs of the store: groups, the deadlines its outboxes schedule, and
    what announcing a cancellation reads and sends."""


class AggregatorActor:
    def __init__(
        self, store: AggregatorStore, broker: Publisher, policy: StepPolicy, clock: Callable[[], float]
    ) -> None:
        self._store, self._broker, self._policy, self._clock = store, broker, policy, clock

    async def handle(self, env: Envelope) -> None:
        if isinstance(env.body, GroupStart | GroupCancel):
            await self._store.create_group(new_group(env.body, self._clock()))
        group = await self._store.load_group(env.key)
        if group is None:
            log.warning("message %s for unknown group %s dropped", env.id, env.key)
            return
        steps: list[fanin.GroupStep] = []  # what the step did: branches to commit, a cancellation
        step = partial(self._step, group, env, steps)
        commit = partial(self._commit, steps)
        await apply_once(group, env, step, commit, self._broker, self._store)
        if steps and steps[-1].cancelled:
            await announce(self._store, fanin.abandoned(group, await self._store.load_branches(group.id)))

    async def _step(self, group: GroupState, env: Envelope, steps: list[fanin.GroupStep]) -> list[Outgoing]:
        now = self._clock()
        branch = await self._branch(group, env)
        step = fanin.apply(self._policy, group, branch, env, now)
        steps.append(step)
        if step.complete:
            stored = await self._store.load_branches(group.id) if group.size else []
            step.out.append(fanin.aggregate(group, [*stored, *step.written], now))
        return step.out

    async def _branch(self, group: GroupState, env: Envelope) -> BranchState | None:
        task_id = fanin.task_of(env.body)
        if task_id is None or group.terminal or not group.offered:
            return None
        return await self._store.load_branch(group.id, task_id)

    async def _commit(self, steps: list[fanin.GroupStep], group: GroupState, expected_version: int) -> None:
        [step] = steps
        await self._store.commit_group(group, expected_version, step.written)
