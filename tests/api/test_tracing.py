"""One trace per job (ADR 0021), on both runtimes wired as ``avtomat up`` wires them, with the spans
exported in memory: the client's POST (continuing the client's ``traceparent``), every activation
of the job actor, the router, and the task payload the worker gets all share the client's trace.
On the distributed runtime the gateway and the node are separate runtimes with tracers of their
own, so the context can only have crossed in the envelopes and the job's state."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rxon.models import TaskResult, WorkerEventPayload, WorkerRegistration

from engine.messages import WorkerEvent
from engine.registry import BlueprintRegistry
from tests.api.conftest import NOW, WORKER_TOKEN, Gateway, put_job, sdk_signed, wire, worker_headers
from tests.api.test_tasks import register
from tests.blueprints import one_task
from tests.conformance.rabbitmq_case import fresh_prefix
from tests.e2e.servers import _check_servers, _purge
from tests.support.servers import RABBITMQ_URL, REDIS_URL
from tests.support.waiting import eventually
from transport.app.settings import Settings
from transport.app.wiring import runtime
from transport.tracing import OtelTracer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"  # the client's own span
CLIENT = {"X-Client-Token": "trace-client"}


def settings(**env: str) -> Settings:
    base = {"CLIENT_TOKEN": "trace-client", "GLOBAL_WORKER_TOKEN": WORKER_TOKEN, "ORCHESTRATOR_SECRET_KEY": "s"}
    return Settings.from_env({**base, "API_PORT": "0", "RATE_LIMITING_ENABLED": "false", **env})


def traced() -> tuple[OtelTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return OtelTracer(exporter, "avtomat"), exporter


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[tuple[str, list[OtelTracer], list[InMemorySpanExporter]]]:
    """The gateway's URL, the tracers and their exporters (one; the gateway's and the node's)."""
    registry = BlueprintRegistry()
    registry.register(one_task("traced"))
    if kind == "embedded":
        tracer, exporter = traced()
        async with runtime(settings(), registry, schedules=(), tracer=tracer) as rt:
            assert rt.url is not None
            yield rt.url, [tracer], [exporter]
        return
    await _check_servers()  # RabbitMQ and Redis: skip locally, fail in CI
    namespace = fresh_prefix()
    env = settings(RABBITMQ_URL=RABBITMQ_URL, REDIS_URL=REDIS_URL, AVTOMAT_NAMESPACE=namespace)
    (gateway_tracer, at_gateway), (node_tracer, at_node) = traced(), traced()
    try:
        async with (
            runtime(env, registry, schedules=(), tracer=node_tracer, gateway=False),
            runtime(env, registry, schedules=(), tracer=gateway_tracer, node=False) as rt,
        ):
            assert rt.url is not None
            yield rt.url, [gateway_tracer, node_tracer], [at_gateway, at_node]
    finally:
        await _purge(namespace)


async def run_one_job(http: aiohttp.ClientSession, url: str) -> tuple[str, dict[str, Any]]:
    """Submit a job under the client's trace and be its worker; the job id and the task payload."""
    worker = worker_headers("tracer-w1")
    registration = WorkerRegistration(worker_id="tracer-w1", supported_skills=[], available_skills=["echo"])
    async with http.post(f"{url}/_worker/workers/register", headers=worker, data=wire(registration)) as resp:
        assert resp.status == 200, await resp.text()
    headers = {**CLIENT, "traceparent": INCOMING}
    async with http.post(f"{url}/api/v1/jobs/traced", json={"initial_data": {}}, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        job_id: str = (await resp.json())["job_id"]
    poll = f"{url}/_worker/workers/tracer-w1/tasks/next"
    async with http.get(poll, headers=worker, params={"timeout": "10", "available_skills": "echo"}) as resp:
        assert resp.status == 200, await resp.text()
        task: dict[str, Any] = await resp.json()
    done = TaskResult(job_id=job_id, task_id=task["task_id"], worker_id="tracer-w1", timestamp=int(time.time()))
    async with http.post(f"{url}/_worker/tasks/result", headers=worker, data=wire(sdk_signed(done, "tracer-w1"))):
        pass

    async def finished() -> bool:
        async with http.get(f"{url}/api/v1/jobs/{job_id}", headers=CLIENT) as resp:
            return bool((await resp.json())["status"] == "finished")

    await eventually(finished, "the job finished")
    async with http.get(f"{url}/api/v1/jobs/{job_id}", headers=CLIENT) as resp:
        view = await resp.json()
    assert view.get("trace_id") == (TRACE_ID if "tracing_context" in task else None)
    return job_id, task


def spans_of(exporters: list[InMemorySpanExporter], job_id: str) -> list[ReadableSpan]:
    """The job's spans: those naming it, and the POST that created it."""
    every = [span for exporter in exporters for span in exporter.get_finished_spans()]
    return [s for s in every if (s.attributes or {}).get("job.id") == job_id or s.name.startswith("POST ")]


@pytest.mark.parametrize("kind", ["embedded", "distributed"])
async def test_one_job_is_one_trace_continuing_the_clients(kind: str) -> None:
    async with running(kind) as (url, tracers, exporters), aiohttp.ClientSession() as http:
        job_id, task = await run_one_job(http, url)
        for tracer in tracers:
            tracer.flush()
        spans = spans_of(exporters, job_id)

    assert task["tracing_context"]["traceparent"].split("-")[1] == TRACE_ID
    assert {f"{s.context.trace_id:032x}" for s in spans} == {TRACE_ID}
    names = [s.name for s in spans]
    assert "POST /api/v1/jobs/traced" in names
    assert {"job Start", "route task", "job TaskDone"} <= set(names)
    post = next(s for s in spans if s.name == "POST /api/v1/jobs/traced")
    assert post.parent is not None and f"{post.parent.span_id:016x}" == INCOMING.split("-")[2]


async def test_tracing_off_sends_no_tracing_context() -> None:
    registry = BlueprintRegistry()
    registry.register(one_task("traced"))
    async with runtime(settings(), registry, schedules=()) as rt, aiohttp.ClientSession() as http:
        assert rt.url is not None
        _, task = await run_one_job(http, rt.url)
    assert "tracing_context" not in task


async def test_a_worker_event_carries_the_workers_span_to_the_jobs_step(gw: Gateway) -> None:
    """A non-progress event goes to the job's mailbox; with the job traced, its envelope carries
    the worker's ``trace_context``, so the step it causes is a child of the worker's span."""
    await register(gw)
    await put_job(gw, job_id="j", task_id="t1")
    job = await gw.store.load_job("j")
    assert job is not None
    job.traceparent = INCOMING
    await gw.store.commit_job(job, job.version)
    worker_span = f"00-{TRACE_ID}-1111111111111111-01"
    event = WorkerEventPayload(
        event_id="e1",
        worker_id="w1",
        origin_worker_id="w1",
        event_type="custom",
        payload={},
        bubbling_chain=[],
        target_job_id="j",
        trace_context={"traceparent": worker_span},
        timestamp=int(NOW),
    )
    signed = sdk_signed(event, "w1", ignore_fields=["bubbling_chain"])
    resp = await gw.http.post("/_worker/events", headers=worker_headers("w1"), data=wire(signed))
    assert resp.status == 200, await resp.text()

    [published] = gw.published(WorkerEvent)
    assert published.traceparent == worker_span
