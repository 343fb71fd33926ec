"""The pickup through the gateway and a node: a result still completes a task whose ``TaskStarted``
never reached the job (the poll answers without waiting for the announcement), and a result that
comes within ``PICKUP_ANNOUNCE_DELAY_SECONDS`` withdraws the announcement."""

from __future__ import annotations

from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from actors.node import Node
from engine import history as h
from engine.job import FINISHED
from engine.messages import Envelope, TaskDone, TaskStarted
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, Gateway, put_job, worker_headers
from tests.api.test_tasks import offer, poll, register, result, send
from tests.blueprints import one_task, tiny_blueprint
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker


class StartsLost(MemoryBroker):
    """A broker that confirms every ``TaskStarted`` and delivers none (lost on the way)."""

    lost = 0

    async def publish(self, route: str, env: Envelope) -> None:
        if isinstance(env.body, TaskStarted):
            self.lost += 1
            return
        await super().publish(route, env)


async def test_a_result_whose_pickup_never_reached_the_job_completes_it(gw: Gateway) -> None:
    bp = one_task("pickup_lost")
    registry = BlueprintRegistry()
    registry.register(bp)
    broker = StartsLost()

    node = Node(
        registry=registry,
        store=gw.store,
        broker=broker,
        policy=StepPolicy(),
        sender=Receiver(),
        clock=gw.clock,
        sleep=gw.clock.held_sleep,
    )
    app = build_app(GatewayContext(gw.settings, gw.store, broker, registry, gw.clock))
    async with node, TestClient(TestServer(app)) as http:
        gw = replace(gw, http=http, broker=broker)
        await register(gw)
        created = await http.post(registry.path_of(bp), headers=CLIENT, json={})
        assert created.status == 202
        job_id = (await created.json())["job_id"]

        picked = await poll(gw, timeout=1.0)
        assert picked.status == 200
        task_id = (await picked.json())["task_id"]
        assert broker.lost == 1
        assert await send(gw, result(job_id=job_id, task_id=task_id, data={"x": 2})) == {"status": "accepted"}

        async def finished() -> bool:
            state = await gw.store.load_job(job_id)
            return state is not None and state.status == FINISHED

        await eventually(finished, "the result to finish the job")
    events = [(e.event, e.details.get("worker_id")) for e in await gw.store.load_history(job_id)]
    assert (h.TASK_STARTED, "w1") in events
    assert events.index((h.TASK_STARTED, "w1")) < events.index((h.TASK_FINISHED, "w1"))
    assert await gw.store.get_lease(task_id) is None


class CountsStarts(MemoryBroker):
    """A broker that counts the ``TaskStarted`` it is given."""

    starts = 0

    async def publish(self, route: str, env: Envelope) -> None:
        self.starts += isinstance(env.body, TaskStarted)
        await super().publish(route, env)


async def _served(gw: Gateway, delay: float, dispatch_timeout: float | None = None) -> tuple[Gateway, CountsStarts]:
    broker = CountsStarts()
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    settings = replace(gw.settings, pickup_announce_delay_seconds=delay)
    http = TestClient(TestServer(build_app(GatewayContext(settings, gw.store, broker, registry, gw.clock))))
    await http.start_server()
    gw = replace(gw, http=http, broker=broker, settings=settings)
    await register(gw)
    await put_job(gw, job_id="j", task_id="t1")
    deadline = None if dispatch_timeout is None else gw.clock() + dispatch_timeout
    await offer(gw, "j", "t1", dispatch_deadline=deadline)
    return gw, broker


async def _take(gw: Gateway) -> None:
    """Poll once, without waiting for the pickup's announcement."""
    query = {"timeout": "0.2", "available_skills": "echo"}
    resp = await gw.http.get("/_worker/workers/w1/tasks/next", headers=worker_headers("w1"), params=query)
    assert resp.status == 200


async def test_a_result_within_the_delay_withdraws_the_pickup(gw: Gateway) -> None:
    gw, broker = await _served(gw, delay=60.0)
    try:
        await _take(gw)
        assert await send(gw, result(data={"x": 1})) == {"status": "accepted"}
        await gw.announced()
    finally:
        await gw.http.close()
    assert broker.starts == 0
    assert [type(e.body) for e in gw.published()] == [TaskDone]


async def test_a_task_still_running_after_the_delay_is_announced(gw: Gateway) -> None:
    gw, broker = await _served(gw, delay=0.01)
    try:
        await _take(gw)

        async def announced() -> bool:
            return broker.starts == 1

        await eventually(announced, "the pickup to be announced once its delay is over")
        assert await send(gw, result(data={"x": 1})) == {"status": "accepted"}
    finally:
        await gw.http.close()
    assert [type(e.body) for e in gw.published()] == [TaskStarted, TaskDone]


async def test_a_refused_result_leaves_the_pickup_to_be_announced(gw: Gateway) -> None:
    gw, broker = await _served(gw, delay=60.0)
    try:
        await _take(gw)
        await register(gw, "w2")
        assert (await send(gw, result(worker_id="w2"), "w2"))["status"] == "ignored"
        await gw.announced()  # the delayed pickups go out at once
    finally:
        await gw.http.close()
    assert broker.starts == 1


async def test_a_pickup_waiting_out_its_delay_is_published_when_the_gateway_closes(gw: Gateway) -> None:
    gw, broker = await _served(gw, delay=60.0)
    try:
        await _take(gw)
    finally:
        await gw.http.close()
    assert broker.starts == 1


async def test_a_pickup_near_its_dispatch_deadline_is_announced_at_once(gw: Gateway) -> None:
    """Delayed, it could reach the job after the deadline failed the task for want of a worker."""
    gw, broker = await _served(gw, delay=60.0, dispatch_timeout=30.0)
    try:
        await _take(gw)

        async def announced() -> bool:
            return broker.starts == 1

        await eventually(announced, "the pickup to be announced without waiting out the delay")
    finally:
        await gw.http.close()
