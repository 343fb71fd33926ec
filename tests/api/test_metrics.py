"""``/_public/metrics``: jobs run on a runtime wired as ``avtomat up`` wires it move the counters
and histograms by exactly what they did, and the exposition parses as Prometheus text."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from rxon.models import SkillInfo, TaskResult, WorkerRegistration

from engine.registry import BlueprintRegistry
from tests.api.conftest import sdk_signed, wire, worker_headers
from tests.blueprints import one_task, tiny_blueprint
from tests.support.waiting import eventually
from transport.app.settings import Settings
from transport.app.wiring import Runtime, runtime

CLIENT = {"X-Client-Token": "metrics-client"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def settings(**env: str) -> Settings:
    base = {"CLIENT_TOKEN": "metrics-client", "GLOBAL_WORKER_TOKEN": "worker-token", "ORCHESTRATOR_SECRET_KEY": "s"}
    return Settings.from_env({**base, "API_PORT": "0", **env})


def registry() -> BlueprintRegistry:
    reg = BlueprintRegistry()
    reg.register(tiny_blueprint())
    reg.register(one_task("one"))
    return reg


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    """Every sample of the exposition, parsed by prometheus-client's own parser (which rejects
    a malformed one)."""
    async with http.get(f"{base}/_public/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def create(http: aiohttp.ClientSession, rt: Runtime, blueprint: str) -> str:
    async with http.post(f"{rt.url}/api/v1/jobs/{blueprint}", json={"initial_data": {}}, headers=CLIENT) as resp:
        assert resp.status == 202, await resp.text()
        job_id: str = (await resp.json())["job_id"]
        return job_id


async def status(http: aiohttp.ClientSession, rt: Runtime, job_id: str) -> Any:
    async with http.get(f"{rt.url}/api/v1/jobs/{job_id}", headers=CLIENT) as resp:
        return (await resp.json()).get("status")


async def work_one(http: aiohttp.ClientSession, rt: Runtime) -> str:
    """Take one ``echo`` task as worker ``w1`` and report its success; the job id."""
    path = f"{rt.url}/_worker/workers/w1/tasks/next"
    async with http.get(path, headers=worker_headers("w1"), params={"timeout": "5", "available_skills": "echo"}) as resp:
        assert resp.status == 200, await resp.text()
        task = await resp.json()
    result = TaskResult(job_id=task["job_id"], task_id=task["task_id"], worker_id="w1", timestamp=int(time.time()))
    async with http.post(f"{rt.url}/_worker/tasks/result", headers=worker_headers("w1"),
                         data=wire(sdk_signed(result, "w1"))) as resp:  # fmt: skip
        assert resp.status == 200 and (await resp.json())["status"] == "accepted"
    return str(task["job_id"])


@contextlib.asynccontextmanager
async def embedded(**env: str) -> AsyncIterator[tuple[Runtime, aiohttp.ClientSession]]:
    async with runtime(settings(**env), registry(), schedules=()) as rt, aiohttp.ClientSession() as http:
        yield rt, http


async def test_jobs_run_on_the_embedded_runtime_move_the_metrics_by_what_they_did() -> None:
    async with embedded() as (rt, http):
        assert rt.url is not None
        registration = WorkerRegistration(worker_id="w1", supported_skills=[SkillInfo(name="echo")])
        async with http.post(f"{rt.url}/_worker/workers/register", headers=worker_headers("w1"),
                             data=wire(registration)) as resp:  # fmt: skip
            assert resp.status == 200
        tiny = [await create(http, rt, "tiny") for _ in range(3)]
        one = [await create(http, rt, "one") for _ in range(3)]

        async def queued() -> bool:
            return value(await scrape(http, rt.url or ""), "orchestrator_task_queue_depth", skill="echo") == 3

        await eventually(queued, "three echo tasks queued")
        async with http.post(f"{rt.url}/api/v1/jobs/{one[2]}/cancel", headers=CLIENT) as resp:
            assert resp.status in (200, 202), await resp.text()
        await eventually(lambda: _all_in(http, rt, [one[2]], "cancelled"), "the third job cancelled")
        worked = {await work_one(http, rt) for _ in range(2)}
        await eventually(lambda: _all_in(http, rt, [*tiny, *one[:2]], "finished"), "five jobs finished")
        samples = await scrape(http, rt.url)

    assert worked == set(one[:2])
    assert value(samples, "orchestrator_jobs_created_total", blueprint="tiny") == 3
    assert value(samples, "orchestrator_jobs_created_total", blueprint="one") == 3
    assert value(samples, "orchestrator_jobs_ended_total", blueprint="tiny", status="finished") == 3
    assert value(samples, "orchestrator_jobs_ended_total", blueprint="one", status="finished") == 2
    assert value(samples, "orchestrator_jobs_ended_total", blueprint="one", status="cancelled") == 1
    assert value(samples, "orchestrator_job_transitions_total", blueprint="tiny") == 3  # start -> end
    assert value(samples, "orchestrator_job_transitions_total", blueprint="one") == 2  # start -> done
    assert value(samples, "orchestrator_job_duration_seconds_count", blueprint="tiny") == 3
    assert value(samples, "orchestrator_job_duration_seconds_count", blueprint="one") == 3
    assert value(samples, "orchestrator_task_dispatch_to_start_seconds_count", skill="echo") == 2
    assert value(samples, "orchestrator_task_run_seconds_count", skill="echo") == 2
    assert value(samples, "orchestrator_task_run_seconds_bucket", skill="echo", le="+Inf") == 2
    # w1 registered before the jobs: each offer was reserved for it, not hot (it names no hot skill).
    assert value(samples, "orchestrator_routing_decisions_total", kind="cold") == 3
    # Two taken; the cancelled job's task stays queued until a poll finds its job over and drops it.
    assert value(samples, "orchestrator_task_queue_depth", skill="echo") == 1
    assert value(samples, "orchestrator_workers", status="idle") == 1
    assert value(samples, "orchestrator_store_up") == 1
    # The embedded runtime has no RabbitMQ nor Redis: no frames, no confirm or round-trip latency.
    assert not any(name.startswith(("orchestrator_mailbox", "orchestrator_broker")) for name, _ in samples)


async def _all_in(http: aiohttp.ClientSession, rt: Runtime, ids: list[str], wanted: str) -> bool:
    return all([await status(http, rt, job_id) == wanted for job_id in ids])
