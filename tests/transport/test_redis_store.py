"""What only the Redis store can get wrong: several nodes on one Redis, TTLs, and the key scheme.

The store contract itself is checked by ``tests/conformance`` on Redis as on memory. Here two
``RedisStore`` instances on one prefix stand for two nodes. Waits are bounded and wait on a
condition, never for a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from actors.ports.store import Lease, Scheduled, WorkerRecord
from engine.errors import StoreUnavailable, VersionConflict
from engine.group import DONE, BranchState, GroupState
from engine.history import HistoryEvent
from engine.job import FINISHED, QUARANTINED, RUNNING, JobState, TaskState
from engine.messages import CancelNotice, TaskOffer, Timeout, envelope
from tests.conformance.redis_case import redis_store, unique_prefix
from tests.support.proxy import TcpProxy
from tests.support.servers import REDIS_URL
from tests.support.waiting import eventually
from transport import keys
from transport.redis_store import RedisStore

Nodes = tuple[RedisStore, RedisStore]
HOUR = 3600.0
LEASE = 60.0


def job(job_id: str = "job-1") -> JobState:
    return JobState(
        id=job_id, blueprint="bp", client_id="c", current_state="start", initial_data={}, created_at=1.0, updated_at=1.0
    )


def offer(task_id: str, skill: str = "echo") -> TaskOffer:
    return TaskOffer(job_id="job-1", task_id=task_id, type=skill, params={})


def redis_proxy() -> TcpProxy:
    """A TCP proxy in front of Redis whose connections a test can cut, with the server up for everyone else."""
    target = urlsplit(REDIS_URL)
    return TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)


async def until_async(read: Callable[[], Awaitable[int]], expected: int, what: str, timeout: float = 5.0) -> None:
    """Poll ``read()`` until it returns ``expected``; fail after ``timeout`` s."""
    try:
        async with asyncio.timeout(timeout):
            while await read() != expected:  # each read is a round trip: no busy loop
                pass
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    """Two stores on one prefix. Their takers re-check only every 60 s, so a prompt wake-up is pub/sub's."""
    prefix = unique_prefix()
    async with (
        redis_store(prefix, finished_job_ttl=HOUR, poll_interval=60.0) as a,
        redis_store(prefix, finished_job_ttl=HOUR, poll_interval=60.0) as b,
    ):
        yield a, b


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A raw client, to look at what the store wrote."""
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


# -- jobs ---------------------------------------------------------------------------------------


async def test_two_nodes_racing_a_commit_one_wins_and_the_other_conflicts(nodes: Nodes) -> None:
    a, b = nodes
    await a.create_job(job())
    on_a, on_b = await a.load_job("job-1"), await b.load_job("job-1")
    assert on_a is not None
    assert on_b is not None
    on_a.current_state, on_b.current_state = "by-a", "by-b"

    outcomes = await asyncio.gather(
        a.commit_job(on_a, expected_version=1), b.commit_job(on_b, expected_version=1), return_exceptions=True
    )

    [conflict] = [o for o in outcomes if isinstance(o, BaseException)]
    assert isinstance(conflict, VersionConflict)
    assert str(conflict) == "job job-1: expected version 1, found 2"
    winner = on_a if outcomes[0] is None else on_b
    loaded = await b.load_job("job-1")
    assert loaded is not None
    assert (loaded.version, loaded.current_state) == (2, winner.current_state)
    assert winner.version == 2
    assert (on_a.version, on_b.version) == tuple(2 if s is winner else 1 for s in (on_a, on_b))


async def test_a_finished_job_expires_and_a_running_one_does_not(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    p = store.prefix
    for job_id in ("running", "finished"):
        await store.create_job(job(job_id))
        await store.set_progress(job_id, 0.5, "half way")
    running, finished = await store.load_job("running"), await store.load_job("finished")
    assert running is not None
    assert finished is not None
    running.status, finished.status = RUNNING, FINISHED

    await store.commit_job(running, expected_version=1)
    await store.commit_job(finished, expected_version=1)
    await store.set_progress("finished", 1.0, "late progress")  # after the end: follows the job's TTL

    assert await redis.pttl(keys.job(p, "running")) == -1
    assert await redis.pttl(keys.progress(p, "running")) == -1
    assert 0 < await redis.pttl(keys.job(p, "finished")) <= HOUR * 1000
    assert 0 < await redis.pttl(keys.progress(p, "finished")) <= HOUR * 1000
    assert await store.get_progress("finished") == (1.0, "late progress")


async def test_history_expires_with_its_job_and_a_quarantined_job_stays(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    p, event = store.prefix, HistoryEvent(1.0, "job_ended", "start")
    states = {}
    for job_id, status in (("finished", FINISHED), ("quarantined", QUARANTINED)):
        await store.create_job(job(job_id))
        state = await store.load_job(job_id)
        assert state is not None
        state.status = status
        await store.commit_job(state, expected_version=1, history=[event])
        states[job_id] = state

    assert 0 < await redis.pttl(keys.history(p, "finished")) <= HOUR * 1000
    assert await redis.pttl(keys.job(p, "quarantined")) == -1
    assert await redis.pttl(keys.history(p, "quarantined")) == -1

    states["quarantined"].status = FINISHED  # redriven, then finished: it expires like any other
    await store.commit_job(states["quarantined"], expected_version=2)
    assert 0 < await redis.pttl(keys.history(p, "quarantined")) <= HOUR * 1000
    assert await store.quarantined_jobs("c", 10) == []


async def test_a_commit_with_more_history_than_lua_can_unpack_keeps_the_newest(redis: Redis) -> None:
    events = [HistoryEvent(float(i), "state_entered", f"s{i}") for i in range(20_000)]
    async with redis_store(history_limit=12_000) as store:
        await store.create_job(job())
        state = await store.load_job("job-1")
        assert state is not None

        await store.commit_job(state, expected_version=1, history=events)

        assert await store.load_history("job-1") == events[-12_000:]


def group(group_id: str, size: int) -> GroupState:
    return GroupState(id=group_id, job_id="job-1", created_at=1.0, updated_at=1.0, size=size, offered=True)


def branch(key: str) -> BranchState:
    return BranchState(key=key, task=TaskState(id=key, type="echo", params={}, transitions={}))


async def test_a_done_group_expires_with_its_branches_and_a_running_one_does_not(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    p = store.prefix
    for group_id in ("running", "done"):
        await store.create_group(group(group_id, 2))
        await store.commit_group(group(group_id, 2), expected_version=1, branches=[branch("t1"), branch("t2")])
    done = group("done", 2)
    settled = branch("t2")
    settled.result, settled.task.id, done.status = {"status": "success", "data": None, "error": None}, "t2-b", DONE

    await store.commit_group(done, expected_version=2, branches=[settled])

    assert await redis.pttl(keys.group(p, "running")) == -1
    assert 0 < await redis.pttl(keys.group(p, "done")) <= HOUR * 1000
    fields = set(await redis.hkeys(keys.group(p, "done")))
    assert fields == {b"v", b"s", b"b:t1", b"b:t2", b"t:t2-b"}  # one key: the branches expire with it


async def test_two_nodes_racing_a_group_commit_one_writes_its_branch_and_the_other_nothing(nodes: Nodes) -> None:
    a, b = nodes
    await a.create_group(group("g", 1))
    await a.commit_group(group("g", 1), expected_version=1, branches=[branch("t1")])
    on_a, on_b = branch("t1"), branch("t1")
    on_a.task.worker_id, on_b.task.worker_id = "wa", "wb"

    outcomes = await asyncio.gather(
        a.commit_group(group("g", 1), expected_version=2, branches=[on_a]),
        b.commit_group(group("g", 1), expected_version=2, branches=[on_b]),
        return_exceptions=True,
    )

    [conflict] = [o for o in outcomes if isinstance(o, BaseException)]
    assert isinstance(conflict, VersionConflict)
    winner = on_a if outcomes[0] is None else on_b
    assert await b.load_branch("g", "t1") == winner


async def test_the_version_field_not_the_encoded_state_is_authoritative(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    await store.create_job(job())
    await redis.hset(keys.job(store.prefix, "job-1"), "v", 7)  # as a Lua-only writer would leave it

    loaded = await store.load_job("job-1")
    assert loaded is not None
    assert loaded.version == 7
    await store.commit_job(loaded, expected_version=7)
    assert loaded.version == 8


async def test_create_job_does_not_touch_the_callers_state(nodes: Nodes) -> None:
    store, _ = nodes
    state = job()

    assert await store.create_job(state) is True

    assert state.version == 0


# -- tasks --------------------------------------------------------------------------------------


async def test_a_waiting_taker_is_woken_by_a_push_on_another_node(nodes: Nodes) -> None:
    a, b = nodes
    waiting = asyncio.ensure_future(a.take_task("w1", ["echo"], 30.0, now=1.0, lease_seconds=LEASE))
    await eventually(lambda: a.waiting_takers == 1, "the taker to park")

    await b.push_task(offer("t1"))
    taken = await asyncio.wait_for(waiting, 5.0)  # a's own re-check would come after 60 s

    assert taken == offer("t1")
    assert await b.get_lease("t1") == Lease("t1", "job-1", "w1", taken_at=1.0, expires_at=1.0 + LEASE)


async def test_a_node_still_hears_pushes_after_its_connections_are_cut(redis: Redis) -> None:
    async with redis_proxy() as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        async with redis_store() as pusher, redis_store(pusher.prefix, url=url, poll_interval=60.0) as cut_off:
            channel = keys.task_channel(cut_off.prefix)

            async def subscribers() -> int:
                [(_, count)] = await redis.pubsub_numsub(channel)
                return int(count)

            first = asyncio.ensure_future(cut_off.take_task("w1", ["echo"], 30.0, now=0.0, lease_seconds=LEASE))
            await eventually(lambda: cut_off.waiting_takers == 1, "the taker to park")
            assert await subscribers() == 2

            proxy.cut()
            await until_async(subscribers, 1, "the server to drop the cut-off subscription")
            await until_async(subscribers, 2, "the store to subscribe again")
            await pusher.push_task(offer("t1"))
            assert await asyncio.wait_for(first, 5.0) == offer("t1")

            second = asyncio.ensure_future(cut_off.take_task("w1", ["echo"], 30.0, now=0.0, lease_seconds=LEASE))
            await eventually(lambda: cut_off.waiting_takers == 1, "the next taker to park")
            await pusher.push_task(offer("t2"))
            assert await asyncio.wait_for(second, 5.0) == offer("t2")  # only the new subscription can tell it


async def test_each_task_goes_to_exactly_one_of_many_waiting_takers(nodes: Nodes) -> None:
    a, b = nodes
    takers = {
        f"{node}-{i}": asyncio.ensure_future(store.take_task(f"{node}-{i}", ["echo"], 30.0, 0.0, lease_seconds=LEASE))
        for node, store in (("a", a), ("b", b))
        for i in range(3)
    }
    await eventually(lambda: a.waiting_takers == b.waiting_takers == 3, "all takers to park")

    await a.push_task(offer("t0"))
    done, _ = await asyncio.wait(takers.values(), timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) >= 1
    for i in range(1, len(takers)):  # one more task per remaining taker: a task handed out twice leaves one idle
        await b.push_task(offer(f"t{i}"))
    taken = await asyncio.wait_for(asyncio.gather(*takers.values()), 5.0)

    assert sorted(t.task_id for t in taken if t is not None) == [f"t{i}" for i in range(len(takers))]
    for worker_id, task in zip(takers, taken, strict=True):
        assert task is not None
        lease = await a.get_lease(task.task_id)
        assert lease is not None
        assert lease.worker_id == worker_id


def parked_takers(store: RedisStore, worker_id: str, n: int) -> list[asyncio.Future[TaskOffer | None]]:
    return [
        asyncio.ensure_future(store.take_task(worker_id, ["echo"], 30.0, 0.0, lease_seconds=LEASE)) for _ in range(n)
    ]


@pytest.mark.parametrize("pusher", ["same", "other"])
async def test_a_push_wakes_one_parked_taker_of_a_worker_and_each_further_push_another(
    nodes: Nodes, pusher: str
) -> None:
    """A push wakes one of a worker's parked polls, not all; none is stranded. The takers re-check
    only every 60 s: each task taken here was a wake-up's."""
    a, b = nodes
    source = a if pusher == "same" else b
    takers = parked_takers(a, "w1", 3)
    await eventually(lambda: a.waiting_takers == 3, "the takers to park")

    await source.push_task(offer("t0"))
    [first], _ = await asyncio.wait(takers, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
    await eventually(lambda: a.waiting_takers == 2, "the woken taker to be done")
    assert first.result() is not None

    await source.push_task(offer("t1"))
    await source.push_task(offer("t2"))  # wakes a taker not woken yet, not the one t1 woke
    taken = await asyncio.wait_for(asyncio.gather(*takers), 5.0)
    assert sorted(t.task_id for t in taken if t is not None) == ["t0", "t1", "t2"]


@pytest.mark.parametrize("pusher", ["same", "other"])
async def test_a_task_reserved_for_one_worker_wakes_its_taker_not_the_others(nodes: Nodes, pusher: str) -> None:
    a, b = nodes
    source = a if pusher == "same" else b
    [other] = parked_takers(a, "w1", 1)
    [mine] = parked_takers(a, "w2", 1)
    await eventually(lambda: a.waiting_takers == 2, "the takers to park")

    await source.push_task(offer("t1"), reserved_for="w2", reserved_until=time.time() + 60)
    taken = await asyncio.wait_for(mine, 5.0)

    assert taken is not None and taken.task_id == "t1"
    assert a.waiting_takers == 1 and not other.done()
    other.cancel()


async def test_a_cancellation_announced_on_one_node_reaches_the_subscribers_of_another(nodes: Nodes) -> None:
    a, b = nodes
    notice = CancelNotice("job-1", "t1", "w1")
    with b.cancel_notices() as notices:
        await a.announce_cancels([notice])
        assert await asyncio.wait_for(anext(notices), 5.0) == notice


async def test_an_undecodable_cancellation_message_is_dropped_and_the_listener_goes_on(
    nodes: Nodes, redis: Redis
) -> None:
    a, b = nodes
    notice = CancelNotice("job-1", "t1", "w1")
    with b.cancel_notices() as notices:
        await redis.publish(keys.cancel_channel(b.prefix), b"not msgpack of notices")
        await a.announce_cancels([notice])
        assert await asyncio.wait_for(anext(notices), 5.0) == notice


async def test_close_releases_waiting_takers_and_is_idempotent() -> None:
    async with redis_store(poll_interval=60.0) as store:
        waiting = asyncio.ensure_future(store.take_task("w1", ["echo"], 30.0, now=0.0, lease_seconds=LEASE))
        await eventually(lambda: store.waiting_takers == 1, "the taker to park")

        await store.close()

        assert await asyncio.wait_for(waiting, 5.0) is None
        await store.close()


async def test_open_without_a_server_raises_and_leaves_nothing_running() -> None:
    with pytest.raises(StoreUnavailable):
        await RedisStore.open("redis://127.0.0.1:1/0")


# -- workers ------------------------------------------------------------------------------------


async def test_worker_index_entries_expire_and_follow_the_skills(nodes: Nodes, redis: Redis) -> None:
    store, other = nodes
    p = store.prefix
    await store.put_worker(WorkerRecord(worker_id="old", skills=["a", "b"], hot_skills=["a"], expires_at=100.0))
    await store.put_worker(WorkerRecord(worker_id="mover", skills=["a", "b"], expires_at=300.0))
    await other.put_worker(WorkerRecord(worker_id="mover", skills=["b"], hot_skills=["b"], expires_at=300.0))

    async def members(key: str) -> list[str]:
        return sorted(m.decode() for m in await redis.zrange(key, 0, -1))  # type: ignore[union-attr]  # bytes here

    assert await members(keys.workers_with_skill(p, "a")) == ["old"]  # "mover" left "a" when it dropped it
    assert await members(keys.workers_hot(p, "b")) == ["mover"]

    assert [w.worker_id for w in await other.list_workers(now=200.0)] == ["mover"]

    assert await members(keys.workers(p)) == ["mover"]
    assert await members(keys.workers_with_skill(p, "a")) == []
    assert await members(keys.workers_with_skill(p, "b")) == ["mover"]
    assert await members(keys.workers_hot(p, "a")) == []
    assert await store.get_worker("old") is not None  # the record itself goes by its key's TTL


async def test_a_worker_key_expires_a_grace_period_after_expires_at(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    expires_at = time.time() + 100.0

    await store.put_worker(WorkerRecord(worker_id="w1", skills=["a"], expires_at=expires_at))

    ttl = await redis.pttl(keys.worker(store.prefix, "w1"))
    assert 99_000 < ttl <= 161_000


async def test_a_lease_key_has_a_backstop_ttl_that_each_extension_restarts(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    await store.push_task(offer("t1"))
    await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)
    lease_key = keys.lease(store.prefix, "t1")
    await redis.pexpire(lease_key, 5_000)  # as if most of the backstop had run out

    assert await store.extend_leases("w1", ["t1"], until=100.0) == ["t1"]

    assert await redis.pttl(lease_key) > 7 * 24 * HOUR * 1000 - 60_000


async def test_an_expiry_entry_whose_lease_key_expired_is_dropped_by_the_sweep_read(nodes: Nodes, redis: Redis) -> None:
    store, other = nodes
    for task_id in ("gone", "kept"):
        await store.push_task(offer(task_id))
        await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)
    await redis.delete(keys.lease(store.prefix, "gone"))  # its backstop TTL ran out

    expired = await other.expired_leases(now=LEASE, limit=10)

    assert [lease.task_id for lease in expired] == ["kept"]
    assert await redis.zrange(keys.lease_expiry(store.prefix), 0, -1) == [b"kept"]


async def test_release_deletes_the_lease_and_its_expiry_entry(nodes: Nodes, redis: Redis) -> None:
    store, other = nodes
    await store.push_task(offer("t1"))
    await store.take_task("w1", ["echo"], 0, now=0.0, lease_seconds=LEASE)

    await other.release_lease("t1")

    assert await redis.exists(keys.lease(store.prefix, "t1"), keys.lease_expiry(store.prefix)) == 0


# -- keys ---------------------------------------------------------------------------------------


async def test_every_key_lives_under_the_prefix(nodes: Nodes, redis: Redis) -> None:
    store, _ = nodes
    p, token = store.prefix, uuid.uuid4().hex
    job_id, task_id, worker_id, skill = f"job-{token}", f"task-{token}", f"worker-{token}", f"skill-{token}"
    await store.create_job(job(job_id))
    await store.set_progress(job_id, 0.1, None)
    await store.schedule(Scheduled("jobs", envelope(job_id, Timeout("dispatch"), 0.0, id=f"env-{token}"), 5.0))
    await store.push_task(TaskOffer(job_id=job_id, task_id=task_id, type=skill, params={}))
    branch = TaskOffer(job_id=job_id, task_id=f"queued-{token}", type=skill, params={}, group_id=f"group-{token}")
    await store.push_task(branch)
    await store.take_task(worker_id, [skill], 0, now=0.0, lease_seconds=LEASE)
    await store.put_worker(WorkerRecord(worker_id=worker_id, skills=[skill], hot_skills=[skill], expires_at=9e9))

    stray = [k async for k in redis.scan_iter(match=f"*{token}*") if not k.decode().startswith(f"{p}:")]
    under_prefix = {k.decode() async for k in redis.scan_iter(match=f"{p}:*")}

    assert stray == []
    assert under_prefix == {
        keys.job(p, job_id),
        keys.progress(p, job_id),
        keys.deadlines(p),
        keys.deadline_items(p),
        keys.task_queue(p, skill),
        keys.task_offers(p),
        keys.task_jobs(p),
        keys.task_groups(p),
        keys.task_seq(p),
        keys.lease(p, task_id),
        keys.lease_expiry(p),
        keys.worker(p, worker_id),
        keys.workers(p),
        keys.workers_with_skill(p, skill),
        keys.workers_hot(p, skill),
        keys.worker_indexes(p, worker_id),
        keys.worker_index_registry(p),
    }
