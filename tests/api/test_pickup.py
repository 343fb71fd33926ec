"""The pickup through the gateway and a node: a result still completes a task whose ``TaskStarted``
never reached the job (the poll answers without waiting for the announcement)."""

from __future__ import annotations

from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer

from actors.node import Node
from engine import history as h
from engine.job import FINISHED
from engine.messages import Envelope, TaskStarted
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, Gateway
from tests.api.test_tasks import poll, register, result, send
from tests.blueprints import one_task
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
