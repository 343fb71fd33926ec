"""The scheduler actor on a fake clock: the fires it makes through daylight-saving changes, one job
per fire however often and by whomever a fire is made, leadership, catch-up, and a node that runs
its jobs to the end."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from actors.job import JobActor
from actors.node import Node
from actors.ports.store import Fire, WebhookDelivery
from actors.scheduler import SchedulerActor
from actors.stats import Stats
from engine import history, routes
from engine.errors import StoreUnavailable
from engine.job import decode_state
from engine.messages import Envelope, Start
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.schedules import Calendar, Every, Schedule, fire_job_id
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_locks import MemoryLocks

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LEASE = 3.0


def registry() -> BlueprintRegistry:
    reg = BlueprintRegistry()
    reg.register(tiny_blueprint())
    return reg


def daily(name: str, zone: ZoneInfo, hour: int, minute: int, catch_up: str = "skip") -> Schedule:
    rule = Calendar(f"{minute} {hour} * * *", zone, f"daily_at {hour:02}:{minute:02}")
    return Schedule(name, "tiny", rule, input_data={"n": 1}, catch_up="once" if catch_up == "once" else "skip")


def every(seconds: int, name: str = "tick", catch_up: str = "skip") -> Schedule:
    return Schedule(name, "tiny", Every(seconds), catch_up="once" if catch_up == "once" else "skip", client_id="c")


def starts(broker: MemoryBroker) -> list[Envelope]:
    return [e for e in broker.pending(routes.JOBS) if isinstance(e.body, Start)]


def local(fire: Fire, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(fire.at, zone).isoformat()


async def walk(actor: SchedulerActor, clock: FakeClock, until: float, step: float) -> list[Fire]:
    """Tick the actor now, then every ``step`` seconds of fake time up to ``until``; the fires it
    made. (A schedule that never fired starts from the first tick.)"""
    made = await actor.fire_due()
    while clock() < until:
        clock.advance(step)
        made += await actor.fire_due()
    return made


# -- through daylight-saving changes, on a fake clock ---------------------------------------------


async def test_a_daily_schedule_fires_once_a_day_through_both_berlin_changes() -> None:
    clock = FakeClock(datetime(2026, 3, 27, 12, 0, tzinfo=BERLIN).timestamp())
    store, broker, stats = MemoryStore(), MemoryBroker(), Stats()
    actor = SchedulerActor([daily("berlin", BERLIN, 2, 30)], registry(), store, broker, clock, stats=stats)

    spring = await walk(actor, clock, datetime(2026, 3, 31, 12, 0, tzinfo=BERLIN).timestamp(), step=900)
    clock.set(datetime(2026, 10, 23, 12, 0, tzinfo=BERLIN).timestamp())
    actor = SchedulerActor([daily("berlin", BERLIN, 2, 30)], registry(), store, broker, clock)  # a restart
    autumn = await walk(actor, clock, datetime(2026, 10, 27, 12, 0, tzinfo=BERLIN).timestamp(), step=900)

    assert [local(f, BERLIN) for f in spring] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night: the first instant after the gap
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert [local(f, BERLIN) for f in autumn] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",  # 02:30 comes twice that night: once
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    assert sorted(e.key for e in starts(broker)) == sorted(f.job_id for f in spring + autumn)
    assert stats.scheduler_fires == {"berlin": len(spring)}  # counted by the actor that fired (not the restart)


async def test_daily_schedules_fire_once_a_day_through_both_new_york_changes() -> None:
    clock = FakeClock(datetime(2026, 3, 6, 12, 0, tzinfo=NEW_YORK).timestamp())
    store, broker = MemoryStore(), MemoryBroker()
    actor = SchedulerActor([daily("skipped", NEW_YORK, 2, 15)], registry(), store, broker, clock)
    spring = await walk(actor, clock, datetime(2026, 3, 9, 12, 0, tzinfo=NEW_YORK).timestamp(), step=900)
    clock.set(datetime(2026, 10, 30, 12, 0, tzinfo=NEW_YORK).timestamp())
    actor = SchedulerActor([daily("repeated", NEW_YORK, 1, 30)], registry(), store, broker, clock)
    autumn = await walk(actor, clock, datetime(2026, 11, 2, 12, 0, tzinfo=NEW_YORK).timestamp(), step=900)

    assert [local(f, NEW_YORK) for f in spring] == [
        "2026-03-07T02:15:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:15:00-04:00",
    ]
    assert [local(f, NEW_YORK) for f in autumn] == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


async def test_the_start_carries_the_job_the_schedule_describes() -> None:
    clock = FakeClock(1_800_000_000.0)
    store, broker = MemoryStore(), MemoryBroker()
    schedule = Schedule(
        "s", "tiny", Every(60), input_data={"n": 1}, dispatch_timeout=5.0, client_id="owner",
        security={"signer_id": "cron"}, metadata={"team": "x"},
    )  # fmt: skip
    actor = SchedulerActor([schedule], registry(), store, broker, clock)

    [fire] = await walk(actor, clock, 1_800_000_060.0, step=60)
    [env] = starts(broker)

    assert isinstance(env.body, Start) and env.body.create and env.body.created is not None
    assert (env.key, env.id) == (fire.job_id, f"start:{fire.job_id}")
    job = decode_state(env.body.created)
    assert (job.security, job.metadata) == ({"signer_id": "cron"}, {"team": "x"})
    assert await store.last_fires(["s"]) == {"s": fire}


# -- once per fire ----------------------------------------------------------------------------


async def run_jobs(store: MemoryStore, envelopes: list[Envelope], clock: FakeClock) -> None:
    """What the job mailboxes do with the Starts: apply each, in order, redeliveries included."""
    actor = JobActor(registry(), store, MemoryBroker(), StepPolicy(), clock)
    for env in envelopes:
        await actor.handle(env)


async def started_once(store: MemoryStore, job_id: str) -> bool:
    """The job exists, finished, and its history shows one start."""
    job = await store.load_job(job_id)
    started = [e for e in await store.load_history(job_id) if e.event == history.JOB_STARTED]
    return job is not None and job.status == "finished" and len(started) == 1


class LosesTheFirstRecord(MemoryStore):
    """A store that goes away once, right after a leader published a fire (it dies there)."""

    lost = False

    async def record_fire(self, name: str, fire: Fire) -> bool:
        if fire.job_id and not self.lost:
            self.lost = True
            raise StoreUnavailable("Redis went away")
        return await super().record_fire(name, fire)


async def test_a_successor_makes_the_fire_its_dead_leader_published_but_never_recorded(clock: FakeClock) -> None:
    store, broker, locks = LosesTheFirstRecord(), MemoryBroker(), MemoryLocks(clock)
    a = SchedulerActor([every(10)], registry(), store, broker, clock, locks=locks, holder="a", lease=LEASE)
    b = SchedulerActor([every(10)], registry(), store, broker, clock, locks=locks, holder="b", lease=LEASE)
    assert await a.lead() and not await b.lead()
    await a.fire_due()  # reads where the schedule is: never fired, so it starts now

    clock.advance(10)
    with pytest.raises(StoreUnavailable):
        await a.fire_due()  # published the fire, then died before recording it
    clock.advance(LEASE + 1)
    assert await b.lead()
    made = await b.fire_due()

    first = int(clock() - LEASE - 1)
    assert [f.at for f in made] == [first]  # the same fire again, 4 s late
    assert [e.key for e in starts(broker)] == [fire_job_id("tick", first)] * 2
    await run_jobs(store, starts(broker), clock)
    assert await started_once(store, fire_job_id("tick", first))
    job = await store.load_job(fire_job_id("tick", first))
    assert job is not None and (job.schedule, job.scheduled_for) == ("tick", first)


async def test_a_paused_ex_leader_repeats_fires_its_successor_made_and_each_makes_one_job(clock: FakeClock) -> None:
    store, broker, locks = MemoryStore(), MemoryBroker(), MemoryLocks(clock)
    a = SchedulerActor([every(1)], registry(), store, broker, clock, locks=locks, holder="a", lease=LEASE)
    b = SchedulerActor([every(1)], registry(), store, broker, clock, locks=locks, holder="b", lease=LEASE)
    assert await a.lead()
    await a.fire_due()
    clock.advance(1)
    await a.fire_due()

    clock.advance(LEASE + 1)  # a is paused (a long GC, a frozen VM): its lock lapses
    assert await b.lead()
    by_b = await b.fire_due()
    by_a = await a.fire_due()  # a wakes up and fires before it finds out, at its next renewal

    assert [f.at for f in by_a] == [f.at for f in by_b]  # the same fires, the same job ids
    envelopes = starts(broker)
    await run_jobs(store, envelopes, clock)
    ids = {e.key for e in envelopes}
    assert len(envelopes) == len(ids) + len(by_a)
    assert sorted(ids) == sorted(fire_job_id("tick", at) for at in range(int(clock()) - 4, int(clock()) + 1))
    for job_id in ids:
        assert await started_once(store, job_id)
    assert (await store.last_fires(["tick"]))["tick"] == by_b[-1]  # a's late records moved nothing back
    assert not await a.lead()


async def test_only_the_leader_fires() -> None:
    clock = FakeClock(1_800_000_000.0)
    store, broker, locks = MemoryStore(), MemoryBroker(), MemoryLocks(clock)
    a = SchedulerActor([every(1)], registry(), store, broker, clock, locks=locks, holder="a", lease=LEASE)
    b = SchedulerActor([every(1)], registry(), store, broker, clock, locks=locks, holder="b", lease=LEASE)

    assert await a.lead() and not await b.lead()
    assert a.leading and not b.leading


# -- catch-up after every node was down -----------------------------------------------------------


async def restart_after(down: float, catch_up: str, clock: FakeClock) -> list[int]:
    """Run a minutely schedule for two minutes, stop on a fire, restart ``down`` seconds later: the
    fires made at once, relative to now."""
    store, broker = MemoryStore(), MemoryBroker()
    schedule = every(60, catch_up=catch_up)
    clock.set((int(clock()) // 60 + 1) * 60)
    first = SchedulerActor([schedule], registry(), store, broker, clock)
    await walk(first, clock, clock() + 120, step=1)
    clock.advance(down)  # no node runs
    second = SchedulerActor([schedule], registry(), store, broker, clock)  # they come back
    return [f.at - int(clock()) for f in await second.fire_due()]


async def test_a_restart_within_the_grace_makes_the_late_fires(clock: FakeClock) -> None:
    assert await restart_after(8, "skip", clock) == []  # no fire fell in those 8 s
    assert await restart_after(60, "skip", clock) == [0]
    assert await restart_after(65, "skip", clock) == [-5]  # 5 s late: made


async def test_catch_up_skip_drops_what_no_node_was_up_to_make(clock: FakeClock) -> None:
    assert await restart_after(3600 + 30, "skip", clock) == []


async def test_catch_up_once_makes_the_latest_missed_fire_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert await restart_after(3600 + 30, "once", clock) == [-30]
    assert "schedule tick missed its fires after" in caplog.text


# -- on a node ----------------------------------------------------------------------------------


async def test_a_node_runs_the_scheduled_jobs_to_their_end(clock: FakeClock, eventually: Eventually) -> None:
    store, broker = MemoryStore(), MemoryBroker(shards=4)

    async def notify(delivery: WebhookDelivery, timestamp: int) -> None: ...

    node = Node(
        registry=registry(),
        store=store,
        broker=broker,
        policy=StepPolicy(),
        sender=notify,
        clock=clock,
        locks=MemoryLocks(clock),
        schedules=[every(5)],
        sleep=clock.held_sleep,
    )
    start = int(clock())
    async with node:
        for _ in range(12):  # one fake second at a time, each once every ticker sleeps again
            await eventually(lambda: clock.sleepers == 3, "the timeouts actor, scheduler and webhook deliverer asleep")
            clock.advance(1)
        expected = [fire_job_id("tick", at) for at in range(start + 5, int(clock()) + 1, 5)]

        async def finished() -> bool:
            jobs = [await store.load_job(job_id) for job_id in expected]
            return all(job is not None and job.status == "finished" for job in jobs)

        await eventually(finished, "both scheduled jobs finished")

    assert len(expected) == 2
    assert (await store.last_fires(["tick"]))["tick"] == Fire(start + 10, expected[-1])
    job = await store.load_job(expected[0])
    assert job is not None and (job.schedule, job.scheduled_for, job.client_id) == ("tick", start + 5, "c")
