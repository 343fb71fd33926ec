"""A job's trace and log lines end to end (ADR 0021): ``avtomat`` exporting its spans over OTLP/HTTP
to a collector the test runs, logging JSON at DEBUG, and the unmodified SDK worker with
``WORKER_ENABLE_METRICS=true``. The SDK's OTLP exporter is gRPC only: without it installed (this
project installs OTLP/HTTP) the SDK prints its spans on its console, where the test reads them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker
from tests.support.otlp import Collector, otlp_collector
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

WORKER_ID = "e2e-traced-1"


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with otlp_collector() as running:
        yield running


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, collector: Collector
) -> Iterator[Orchestrator]:
    settings = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 100 ms, not 5 s
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
        "TZ": "Europe/Berlin",
    }
    yield from launch(request.param, tmp_path_factory, **settings)


@pytest.fixture(scope="module")
def worker_log(
    orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    settings = {"WORKER_ENABLE_METRICS": "true", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    worker = start_sdk_worker(orchestrator, WORKER_ID, marker_dir, tmp_path_factory, **settings)
    try:
        yield worker.log
    finally:
        worker.stop()


async def run_traced_job(orchestrator: Orchestrator) -> tuple[str, str]:
    """Run a job under a new trace of the client's; the job's id and the trace's."""
    trace_id = secrets.token_hex(16)
    headers = {**orchestrator.client_headers, "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    async with aiohttp.ClientSession(headers=headers) as http:
        client = Client(orchestrator, http)
        job_id = await client.submit("branch", {"initial_data": {"side": "left", "text": "traced"}})
        state = await client.wait(job_id)
    assert state["status"] == "finished", state
    return job_id, trace_id


def console_spans(log: Path) -> list[dict[str, Any]]:
    """The spans the SDK's console exporter printed (indented JSON objects among its log lines)."""
    text, decoder, spans = log.read_text(errors="replace"), json.JSONDecoder(), []
    at = text.find('{\n    "name"')
    while at != -1:
        span, end = decoder.raw_decode(text, at)
        spans.append(span)
        at = text.find('{\n    "name"', end)
    return spans


async def test_the_job_is_one_trace_from_the_post_to_the_workers_span(
    orchestrator: Orchestrator, collector: Collector, worker_log: Path
) -> None:
    job_id, trace_id = await run_traced_job(orchestrator)

    def ours() -> list[Any]:
        return [s for s in collector.received() if s.trace_id == trace_id]

    def worker_span() -> dict[str, Any] | None:
        found = [s for s in console_spans(worker_log) if s["attributes"].get("job.id") == job_id]
        return found[0] if found else None

    exported = "the job's spans exported"
    await eventually(lambda: {"job TaskDone", "route task"} <= {s.name for s in ours()}, exported, timeout=20.0)
    await eventually(lambda: worker_span() is not None, "the worker's span printed", timeout=20.0)
    names = {s.name for s in ours()}
    assert {"POST /api/v1/jobs/branch", "job Start", "route task", "job TaskDone"} <= names
    assert {s.attributes["job.id"] for s in ours() if s.name.startswith("job ")} == {job_id}
    span = worker_span()
    assert span is not None
    assert span["name"] == "task.echo"
    assert span["context"]["trace_id"] == f"0x{trace_id}"  # the worker continued the job's trace


async def test_every_step_of_a_job_is_found_in_the_json_logs_by_its_id(
    orchestrator: Orchestrator, worker_log: Path
) -> None:
    job_id, trace_id = await run_traced_job(orchestrator)

    def lines() -> list[dict[str, Any]]:
        records = []
        for log in orchestrator.logs:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    records.append(json.loads(line))  # every line of ours is one JSON object
        return [r for r in records if r.get("job_id") == job_id]

    def events() -> list[str]:
        return [r["event"] for r in lines()]

    def finished() -> bool:
        return any(r["event"] == "job stepped" and r["status"] == "finished" for r in lines())

    await eventually(finished, "every step logged", timeout=20.0)
    records = lines()
    assert {"job created", "task handed out", "task result", "job stepped"} <= set(events())
    assert {r["blueprint"] for r in records} == {"e2e_branch"}
    assert {r["trace_id"] for r in records} == {trace_id}
    assert all(r["timestamp"].endswith(("+01:00", "+02:00")) for r in records)  # TZ=Europe/Berlin
    for record in records:
        if record["event"].startswith("task "):
            assert record["worker_id"] == WORKER_ID and record["task_id"]
    steps = [r for r in records if r["event"] == "job stepped"]
    assert steps[0]["received"] == "Start"
    assert steps[-1]["status"] == "finished"
