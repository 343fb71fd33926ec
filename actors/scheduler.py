"""The scheduler actor: starts one job for every fire of every schedule, across all nodes.

Every node runs it; only the leader of the ``scheduler`` lock fires (``actors.leadership``, the
timeouts actor's fenced leadership under a lock of its own). For each schedule, in time order:

1. compute the fires due (``engine.schedules.due_fires``) after the last fire made;
2. publish ``Start(create=True)`` to the job's mailbox, carrying the job's state. The job id and
   the envelope id derive from the schedule and the fire's instant (``fire_job_id``), and the job
   actor stores the job only if no job has that id: however often a fire is published, by
   however many leaders, it makes one job;
3. record the fire as the schedule's last (``ScheduleStore.record_fire``, which only moves
   forward), which is where a successor goes on from.

Crashes: a leader that dies before 2 leaves nothing; between 2 and 3, its successor publishes the
same fire again (one job). A fire at most ``grace`` seconds late is still made, which covers a
failover; older fires were missed (no leader ran, or the store or broker was away) and the
schedule's ``catch_up`` decides: ``skip`` drops them, ``once`` makes the latest of them. A
paused ex-leader that fires after its lock lapsed publishes fires its successor also makes: one
job each. The last fires are read from the store each time leadership is taken; a schedule that
never fired starts from the moment a leader first saw it (recorded, so its successor knows).
Each fire recorded is counted in ``Stats.scheduler_fires`` (a fire made again after a failover
counts on both leaders, though it makes one job).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from actors.leadership import Leadership
from actors.ports.broker import Publisher
from actors.ports.locks import Locks
from actors.ports.store import Fire, ScheduleStore
from actors.stats import Stats
from engine import defaults, routes
from engine.job import JobState, encode_state
from engine.messages import Start, envelope
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule, due_fires, fire_job_id, missed_since

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"


class SchedulerActor:
    def __init__(
        self,
        schedules: Sequence[Schedule],
        registry: BlueprintRegistry,
        store: ScheduleStore,
        broker: Publisher,
        clock: Callable[[], float],
        *,
        locks: Locks | None = None,
        holder: str = "node",
        lease: float = defaults.LOCK_LEASE_SECONDS,
        grace: float = defaults.SCHEDULE_GRACE_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stats: Stats | None = None,
    ) -> None:
        self._schedules, self._registry = list(schedules), registry
        self._store, self._broker, self._clock = store, broker, clock
        self._leadership = Leadership(locks, LOCK_NAME, holder, clock, lease)
        self._grace, self._sleep = grace, sleep
        self._term: int | None = None  # the leadership whose view ``_after`` is
        self._after: dict[str, float] | None = None  # per schedule: every fire up to here is made
        self._fires = (Stats() if stats is None else stats).scheduler_fires  # by schedule, as recorded

    @property
    def leading(self) -> bool:
        return self._leadership.leading

    async def lead(self) -> bool:
        """Take or keep leadership (``Leadership.lead``)."""
        return await self._leadership.lead()

    async def fire_due(self) -> list[Fire]:
        """Make every fire due now, oldest first per schedule; returns them. Call it as leader."""
        after = await self._view()
        made: list[Fire] = []
        for schedule in self._schedules:
            name, now = schedule.name, self._clock()
            if missed_since(schedule, after[name], now, self._grace):
                what = "the latest is made once" if schedule.catch_up == "once" else "skipped"
                log.warning("schedule %s missed its fires after %s: %s", name, _iso(after[name]), what)
            for at in due_fires(schedule, after[name], now, self._grace):
                fire = await self._fire(schedule, at)
                await self._store.record_fire(name, fire)
                self._fires[name] += 1
                after[name] = at
                made.append(fire)
            after[name] = max(after[name], now - self._grace)  # what is older is made or missed
        return made

    def next_due(self) -> float | None:
        """When the next fire falls due, as far as this leader knows (None before it looked)."""
        if self._after is None:
            return None
        return min(s.rule.next_after(self._after[s.name]) for s in self._schedules)

    async def _view(self) -> dict[str, float]:
        """How far each schedule got: read from the store once per leadership. A schedule that
        never fired starts now, and that is recorded (a ``Fire`` without a job) so that a
        successor makes the fires this leader may not have made."""
        if self._after is None or self._term != self._leadership.token:
            last = await self._store.last_fires([s.name for s in self._schedules])
            start = math.floor(self._clock())
            for name in (s.name for s in self._schedules if s.name not in last):
                await self._store.record_fire(name, Fire(start, ""))
                last[name] = Fire(start, "")
            self._after = {name: float(fire.at) for name, fire in last.items()}
            self._term = self._leadership.token
        return self._after

    async def _fire(self, schedule: Schedule, at: int) -> Fire:
        """Publish the ``Start`` that creates the fire's job (idempotent: see the module)."""
        job_id, now = fire_job_id(schedule.name, at), self._clock()
        bp = self._registry.get(schedule.blueprint)
        state = JobState(
            id=job_id,
            blueprint=schedule.blueprint,
            client_id=schedule.client_id,
            # A blueprint this node lacks: the step fails the job, saying so.
            current_state=bp.start_state if bp is not None else "",
            initial_data=dict(schedule.input_data),
            created_at=now,
            updated_at=now,
            dispatch_timeout=schedule.dispatch_timeout,
            result_timeout=schedule.result_timeout,
            security=None if schedule.security is None else dict(schedule.security),
            metadata=None if schedule.metadata is None else dict(schedule.metadata),
            max_transitions=schedule.max_transitions,
            schedule=schedule.name,
            scheduled_for=float(at),
            version=1,
        )
        start = Start(encode_state(state), create=True)
        await self._broker.publish(routes.JOBS, envelope(job_id, start, now, id=f"start:{job_id}"))
        log.debug("schedule %s fired for %s: job %s", schedule.name, _iso(at), job_id)
        return Fire(at, job_id)

    async def run(self) -> None:
        """Lead or wait to, firing as leader, until cancelled; resigns on the way out."""
        try:
            while True:
                wait = self._leadership.pace
                if await self.lead():
                    await self.fire_due()
                    next_at = self.next_due()
                    if next_at is not None:
                        wait = min(wait, max(next_at - self._clock(), 0.0))
                else:
                    self._after = None
                await self._sleep(wait)
        finally:
            self._after = None
            await self._leadership.resign()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()
