"""Rate limits at the gateway: per client or worker and per class, 429 with ``Retry-After``,
counted in ``orchestrator_ratelimit_blocked_total``; busy workers are not slowed; and the
switch. The buckets' own rules are in tests/conformance/test_store_tenancy.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from rxon.exceptions import RxonRateLimitError
from rxon.models import Heartbeat, TaskResult, WorkerRegistration
from rxon.transports.http import HttpTransport

from engine.messages import TaskOffer
from tests.api.conftest import NOW, WORKER_TOKEN, Gateway, put_job, sdk_signed, wire, worker_headers
from tests.api.tenancy import A, B, client, settings_for, tenancy_gateway
from tests.api.test_worker_ws import progress_frame
from tests.support.waiting import eventually
from transport.gateway.limits import BLOCKED

NEXT = "/_worker/workers/w1/tasks/next"
POLL = {"timeout": "0", "available_skills": "echo"}


async def register(gw: Gateway, worker_id: str = "w1") -> None:
    body = wire(WorkerRegistration(worker_id=worker_id, supported_skills=[], available_skills=["echo"]))
    resp = await gw.http.post("/_worker/workers/register", headers=worker_headers(worker_id), data=body)
    assert resp.status == 200, await resp.text()


async def test_a_client_over_its_limit_gets_429_with_retry_after_until_the_bucket_refills(tmp_path: Path) -> None:
    async with tenancy_gateway(settings_for(tmp_path)) as gw:  # team_a: 5 calls per 60 s
        for _ in range(5):
            assert (await gw.http.get("/api/v1/workers", headers=client(A))).status == 200

        refused = await gw.http.get("/api/v1/workers", headers=client(A))

        assert refused.status == 429
        assert refused.headers["Retry-After"] == "12"  # one call per 60/5 s
        assert "rate limit of api calls for 'team_a'" in (await refused.json())["error"]
        assert (await gw.http.get("/api/v1/workers", headers=client(B))).status == 200  # its own bucket
        assert gw.http.app[BLOCKED].total == 1
        assert gw.http.app[BLOCKED].name == "orchestrator_ratelimit_blocked_total"
        gw.clock.advance(12)
        assert (await gw.http.get("/api/v1/workers", headers=client(A))).status == 200


async def test_empty_polls_are_limited_but_polls_that_get_a_task_are_not(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limit_poll_limit=2, workers_config_path="")
    async with tenancy_gateway(settings) as gw:
        await register(gw)
        for n in range(5):  # a busy worker: five tasks in a row, more than its poll limit
            await put_job(gw, job_id=f"j{n}", task_id=f"t{n}")
            await gw.store.push_task(TaskOffer(job_id=f"j{n}", task_id=f"t{n}", type="echo", params={}))
            assert (await gw.http.get(NEXT, headers=worker_headers("w1"), params=POLL)).status == 200

        empty = [(await gw.http.get(NEXT, headers=worker_headers("w1"), params=POLL)) for _ in range(3)]

        assert [r.status for r in empty] == [204, 204, 429]
        assert empty[2].headers["Retry-After"] == "30"
        assert gw.http.app[BLOCKED].by_class["poll"] == 1


async def test_heartbeats_have_their_own_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limit_heartbeat_limit=1, workers_config_path="")
    async with tenancy_gateway(settings) as gw:
        await register(gw)
        beats = [await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1")) for _ in range(2)]

        assert [b.status for b in beats] == [200, 429]
        assert (await gw.http.get(NEXT, headers=worker_headers("w1"), params=POLL)).status == 204


async def test_accepted_results_are_not_counted_and_ignored_ones_are(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limit_limit=2, workers_config_path="")
    async with tenancy_gateway(settings) as gw:
        await register(gw)  # one call of two
        await put_job(gw, job_id="j", task_id="t1")
        await gw.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={}))
        assert (await gw.http.get(NEXT, headers=worker_headers("w1"), params=POLL)).status == 200
        result = sdk_signed(TaskResult(job_id="j", task_id="t1", worker_id="w1", timestamp=int(NOW)), "w1")
        stale = sdk_signed(TaskResult(job_id="gone", task_id="t9", worker_id="w1", timestamp=int(NOW)), "w1")

        answers = []
        for message in (result, stale, stale):
            resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers("w1"), data=wire(message))
            answers.append(resp.status)

        assert answers == [200, 200, 429]


async def test_rate_limiting_switched_off_refuses_nothing(tmp_path: Path) -> None:
    async with tenancy_gateway(settings_for(tmp_path, rate_limiting_enabled=False)) as gw:
        statuses = {(await gw.http.get("/api/v1/workers", headers=client(A))).status for _ in range(20)}

        assert statuses == {200}
        assert gw.http.app[BLOCKED].total == 0


async def test_websocket_event_frames_count_as_calls_and_one_over_the_limit_is_dropped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limit_limit=3, workers_config_path="")
    async with tenancy_gateway(settings) as gw:
        await put_job(gw, job_id="j", task_id="t1")
        ws = await gw.http.ws_connect("/_worker/ws/w1", headers=worker_headers("w1"))  # call 1 of 3
        for n, progress in enumerate((0.2, 0.4, 0.6)):  # calls 2 and 3; the third frame is over
            await ws.send_str(progress_frame(progress, f"frame {n}", target_job_id="j", target_task_id="t1"))

        async def dropped() -> bool:
            return gw.http.app[BLOCKED].by_class["worker"] == 1

        await eventually(dropped, "the third frame to be refused", 5.0)
        assert await gw.store.get_progress("j") == (0.4, "frame 1")
        gw.clock.advance(20)  # one call per 60/3 s
        await ws.send_str(progress_frame(0.8, "later", target_job_id="j", target_task_id="t1"))

        async def applied() -> bool:
            return await gw.store.get_progress("j") == (0.8, "later")

        await eventually(applied, "a frame after the bucket refilled to be applied", 5.0)
        await ws.close()


async def test_the_sdk_transport_reads_a_refusal_as_a_rate_limit_with_its_retry_after(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limit_heartbeat_limit=1, workers_config_path="")
    async with tenancy_gateway(settings) as gw:
        await register(gw)
        transport = HttpTransport(str(gw.http.make_url("")), "w1", WORKER_TOKEN)
        await transport.connect()
        try:
            beat = sdk_signed(Heartbeat(worker_id="w1", status="idle", timestamp=int(NOW)), "w1")
            assert await transport.send_heartbeat(beat) == {"status": "ok"}
            with pytest.raises(RxonRateLimitError) as refused:
                await transport.send_heartbeat(beat)
        finally:
            await transport.close()

        assert refused.value.details["retry_after"] == 60.0
