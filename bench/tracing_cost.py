"""``python -m bench.tracing_cost``: what tracing costs per job (ADR 0021), in one process.

Runs the embedded runtime in this process (memory broker and store, the HTTP gateway) and sends
``--jobs`` jobs of a blueprint that hands three steps to the job actor without a worker (``start``
→ ``middle`` → ``end``: each ``transition_to`` is a message of its own), ``--concurrency`` clients
at a time, then waits until every job finished. It does so three ways: tracing off (no endpoint),
on with the spans exported in memory, and on with the spans exported over OTLP/HTTP to a local
collector that decodes them (another thread of this process, so its CPU counts too). Reports
wall time and this process's CPU per job, and the spans per job.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engine import StateMachineBlueprint
from engine.registry import BlueprintRegistry
from tests.support.otlp import otlp_collector
from tests.support.waiting import eventually
from transport.app.settings import Settings
from transport.app.wiring import runtime
from transport.tracing import OtelTracer, otlp_tracer

TOKEN = "bench-tracing"


def chain() -> StateMachineBlueprint:
    bp = StateMachineBlueprint("chain")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("middle")

    @bp.handler_for("middle")
    async def middle(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        return None

    return bp


async def run(tracer: OtelTracer | None, jobs: int, concurrency: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per job, warm-up excluded."""
    registry = BlueprintRegistry()
    registry.register(chain())
    settings = Settings.from_env({"CLIENT_TOKEN": TOKEN, "API_PORT": "0", "RATE_LIMITING_ENABLED": "false"})
    async with runtime(settings, registry, schedules=(), tracer=tracer) as rt:
        assert rt.url is not None
        async with aiohttp.ClientSession(headers={"X-Client-Token": TOKEN}) as http:
            await _submit(http, rt.url, 200, concurrency, rt)  # warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            await _submit(http, rt.url, jobs, concurrency, rt)
            return (time.perf_counter() - wall) / jobs, (time.process_time() - cpu) / jobs


async def _submit(http: aiohttp.ClientSession, url: str, jobs: int, concurrency: int, rt: Any) -> None:
    ids: list[str] = []
    left = jobs

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with http.post(f"{url}/api/v1/jobs/chain", json={"initial_data": {}}) as resp:
                assert resp.status == 202, await resp.text()
                ids.append((await resp.json())["job_id"])

    await asyncio.gather(*(client() for _ in range(concurrency)))
    for job_id in ids:  # every job finished

        async def finished(job_id: str = job_id) -> bool:
            state = await rt.store.load_job(job_id)
            return state is not None and state.terminal

        await eventually(finished, f"job {job_id} finished", timeout=60.0)


@contextlib.asynccontextmanager
async def closing(tracer: OtelTracer) -> AsyncIterator[OtelTracer]:
    try:
        yield tracer
    finally:
        tracer.close()


async def main(args: argparse.Namespace) -> None:
    for _ in range(args.rounds):
        off = await run(None, args.jobs, args.concurrency)
        memory = InMemorySpanExporter()
        async with closing(OtelTracer(memory, "bench")) as tracer:
            in_memory = await run(tracer, args.jobs, args.concurrency)
            tracer.flush()
        spans = len(memory.get_finished_spans()) / (args.jobs + 200)
        with otlp_collector() as collector:
            async with closing(otlp_tracer(collector.url, "bench")) as tracer:
                exported = await run(tracer, args.jobs, args.concurrency)
            received = len(collector.received()) / (args.jobs + 200)
        for name, (wall, cpu) in (("off", off), ("in memory", in_memory), ("OTLP/HTTP", exported)):
            print(f"{name:10s} {wall * 1e6:7.0f} us wall {cpu * 1e6:7.0f} us CPU per job", flush=True)
        print(f"spans per job: {spans:.1f} in memory, {received:.1f} received over OTLP/HTTP", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
