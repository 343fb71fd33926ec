"""Task leases at the gateway: the poll records one, heartbeats extend the worker's own, and a
result releases it."""

from __future__ import annotations

from engine.job import TaskState
from engine.messages import TaskDone
from tests.api.conftest import NOW, Gateway, put_job, worker_headers
from tests.api.test_tasks import leased, offer, poll, register, result, send
from tests.api.test_worker_api import beat


async def expiry(gw: Gateway, task_id: str) -> tuple[str, float] | None:
    lease = await gw.store.get_lease(task_id)
    return None if lease is None else (lease.worker_id, lease.expires_at)


async def test_a_polled_task_is_leased_for_task_lease_seconds(gw: Gateway) -> None:
    await leased(gw)

    lease = await gw.store.get_lease("t1")

    assert lease is not None
    assert (lease.job_id, lease.worker_id, lease.group_id) == ("j", "w1", None)
    assert (lease.taken_at, lease.expires_at) == (NOW, NOW + gw.settings.task_lease_seconds)


async def test_a_heartbeat_extends_only_the_workers_own_leases(gw: Gateway) -> None:
    ttl = gw.settings.task_lease_seconds
    await leased(gw, job_id="j", task_id="t1", worker_id="w1")
    await leased(gw, job_id="k", task_id="t2", worker_id="w2")
    gw.clock.now = NOW + 30

    resp = await beat(gw, "w1", status="busy", current_tasks=["t1", "t2", "never-leased"])

    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "cancel_task_ids": ["t2"]}  # listing t2 does not take it over
    assert await expiry(gw, "t1") == ("w1", NOW + 30 + ttl)
    assert await expiry(gw, "t2") == ("w2", NOW + ttl)
    assert await gw.store.get_lease("never-leased") is None


async def test_a_heartbeat_not_listing_a_task_or_without_a_body_extends_nothing(gw: Gateway) -> None:
    ttl = gw.settings.task_lease_seconds
    await leased(gw)
    gw.clock.now = NOW + 30

    await beat(gw, "w1", status="idle", current_tasks=[])
    empty = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1"))

    assert empty.status == 200
    assert await expiry(gw, "t1") == ("w1", NOW + ttl)


async def test_an_accepted_result_releases_the_lease(gw: Gateway) -> None:
    await leased(gw)

    assert await send(gw, result(data={"echo": "hi"})) == {"status": "accepted"}

    assert await gw.store.get_lease("t1") is None
    assert await send(gw, result(data={"echo": "hi"})) == {"status": "accepted"}  # a resend: still idempotent
    assert len(gw.published(TaskDone)) == 2


async def test_a_result_from_another_worker_or_naming_another_job_keeps_the_lease(gw: Gateway) -> None:
    await leased(gw)
    await register(gw, "w2")

    assert await send(gw, result(worker_id="w2"), "w2") == {"status": "ignored", "reason": "worker_mismatch"}
    assert await send(gw, result(job_id="nope")) == {"status": "ignored", "reason": "job_not_found"}

    assert await expiry(gw, "t1") == ("w1", NOW + gw.settings.task_lease_seconds)


async def test_a_late_result_after_the_lease_was_lost_is_refused_as_stale(gw: Gateway) -> None:
    """The sweep released w1's lease and the job retried the task under a new id."""
    await leased(gw)
    await gw.store.release_lease("t1")
    state = await gw.store.load_job("j")
    assert state is not None
    state.task = TaskState(id="t1-retry", type="echo", params={}, transitions={}, attempt=2)
    await gw.store.commit_job(state, state.version)

    assert await send(gw, result(data={"late": True})) == {"status": "ignored", "reason": "stale_task"}
    assert gw.published(TaskDone) == []


async def test_an_offer_the_poll_drops_as_stale_leaves_no_lease(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, job_id="moved-on", task_id="t-new")
    await offer(gw, "moved-on", "t-old")

    assert (await poll(gw, timeout=0)).status == 204

    assert await gw.store.get_lease("t-old") is None
