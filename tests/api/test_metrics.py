"""``/_public/metrics``: jobs run on a runtime wired as ``avtomat up`` wires it move the counters
and histograms by exactly what they did, and the exposition parses as Prometheus text."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rxon.models import SkillInfo, TaskResult, WorkerRegistration

from actors.ports.store import WorkerRecord
from actors.stats import Stats
from engine.errors import ConfigError
from engine.registry import BlueprintRegistry
from tests.api.conftest import sdk_signed, wire, worker_headers
from tests.blueprints import one_task, tiny_blueprint
from tests.conformance.rabbitmq_case import fresh_prefix
from tests.e2e.servers import _check_servers, _purge
from tests.support.clock import FakeClock
from tests.support.servers import RABBITMQ_URL, REDIS_URL
from tests.support.waiting import eventually
from transport.app.processes import free_port
from transport.app.settings import Settings
from transport.app.wiring import Runtime, runtime
from transport.memory import MemoryBroker, MemoryStore
from transport.memory_archive import MemoryArchiveFeed
from transport.metrics import Sources, exposition

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
    return parse(text.encode())


def parse(text: bytes) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
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
    async with http.get(path, headers=worker_headers("w1"), params={"timeout": "5"}) as resp:
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


async def test_a_node_without_the_gateway_serves_its_metrics_on_metrics_port() -> None:
    port = free_port()
    bare = runtime(settings(METRICS_PORT=str(port)), registry(), gateway=False, schedules=())
    async with bare as rt, aiohttp.ClientSession() as http:
        samples = await scrape(http, f"http://127.0.0.1:{port}")
    assert rt.url is None and rt.metrics_url == f"http://127.0.0.1:{port}"
    assert value(samples, "orchestrator_store_up") == 1
    assert not any(name.startswith("orchestrator_ratelimit") for name, _ in samples)  # the gateway's


async def test_metrics_port_unset_opens_no_listener_and_a_bad_one_stops_the_start() -> None:
    async with embedded() as (rt, _):
        assert rt.metrics_url is None
    for bad in ["-1", "65536", "nine"]:
        with pytest.raises(ConfigError) as caught:
            settings(METRICS_PORT=bad)
        assert caught.value.variable == "METRICS_PORT"
    with pytest.raises(ConfigError) as same:
        async with runtime(settings(API_PORT="18080", METRICS_PORT="18080"), registry(), schedules=()):
            pass
    assert same.value.variable == "METRICS_PORT"


async def test_on_the_distributed_runtime_the_gateway_and_the_node_each_count_their_part() -> None:
    await _check_servers()  # RabbitMQ and Redis: skip locally, fail in CI
    namespace = fresh_prefix()
    env = {"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL, "AVTOMAT_NAMESPACE": namespace}
    node_settings = settings(METRICS_PORT=str(free_port()), **env)
    try:
        async with (
            runtime(node_settings, registry(), gateway=False, schedules=()) as node,
            runtime(settings(**env), registry(), node=False, schedules=()) as gw,
            aiohttp.ClientSession() as http,
        ):
            ids = [await create(http, gw, "tiny") for _ in range(3)]
            await eventually(lambda: _all_in(http, gw, ids, "finished"), "three jobs finished", timeout=20.0)
            assert node.metrics_url is not None and gw.url is not None
            at_node, at_gateway = await scrape(http, node.metrics_url), await scrape(http, gw.url)
    finally:
        await _purge(namespace)

    assert value(at_gateway, "orchestrator_jobs_created_total", blueprint="tiny") == 3
    assert value(at_node, "orchestrator_jobs_created_total", blueprint="tiny") == 0
    assert value(at_node, "orchestrator_jobs_ended_total", blueprint="tiny", status="finished") == 3
    assert value(at_node, "orchestrator_job_transitions_total", blueprint="tiny") == 3
    # The gateway published the three Starts, each confirmed; the node consumed them, in frames.
    assert value(at_gateway, "orchestrator_mailbox_envelopes_total", direction="published") >= 3
    assert value(at_gateway, "orchestrator_broker_confirm_seconds_count") == value(
        at_gateway, "orchestrator_mailbox_frames_total", direction="published"
    )
    assert value(at_node, "orchestrator_mailbox_envelopes_total", direction="consumed") >= 3
    assert 1 <= value(at_node, "orchestrator_mailbox_frames_total", direction="consumed") <= 3
    # The commits go pipelined (transport.redis_batch): three jobs of one frame may share a round trip.
    assert value(at_node, "orchestrator_store_round_trip_seconds_count") >= 1
    assert value(at_node, "orchestrator_store_up") == value(at_gateway, "orchestrator_store_up") == 1


class _SlowStore(MemoryStore):
    """A store whose worker listing never answers, as a Redis that went away mid-scrape."""

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        await asyncio.Event().wait()
        return []


async def test_a_store_that_does_not_answer_leaves_its_gauges_out_and_the_counters_are_served() -> None:
    stats = Stats()
    stats.jobs_created["tiny"] += 2
    store, broker = _SlowStore(), MemoryBroker()
    try:
        text = await exposition(Sources(stats, store, broker, time.time, timeout=0.01))
    finally:
        await store.close()
        await broker.close()
    samples = parse(text)

    assert value(samples, "orchestrator_store_up") == 0
    assert value(samples, "orchestrator_jobs_created_total", blueprint="tiny") == 2
    assert not any(name in ("orchestrator_workers", "orchestrator_task_queue_depth") for name, _ in samples)


async def test_the_archive_lag_is_the_feed_length_and_the_age_of_its_oldest_entry() -> None:
    clock = FakeClock(100.0)
    feed, store, broker = MemoryArchiveFeed(clock=clock), MemoryStore(), MemoryBroker()
    feed.append(b"first")
    clock.advance(5.0)
    feed.append(b"second")
    clock.advance(2.0)
    try:
        text = await exposition(Sources(Stats(), store, broker, clock, feed=feed))
        await feed.ack([e.id for e in await feed.read("archiver", 2, 0.0)])
        emptied = await exposition(Sources(Stats(), store, broker, clock, feed=feed))
    finally:
        await store.close()
        await broker.close()

    assert value(parse(text), "orchestrator_archive_feed_entries") == 2
    assert value(parse(text), "orchestrator_archive_lag_seconds") == 7.0
    assert value(parse(emptied), "orchestrator_archive_feed_entries") == 0
    assert value(parse(emptied), "orchestrator_archive_lag_seconds") == 0.0
