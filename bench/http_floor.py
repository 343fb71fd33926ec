"""``python -m bench.http_floor``: what the client API's HTTP alone costs on this machine.

A stand-in gateway (aiohttp on uvloop, like avtomat's, in a process of its own) answers the
bench's ``chain`` submissions with 202 and a job id, and every read with a finished job, doing
nothing else: no store, no broker, no actor. The bench's own load generator (``bench.load``)
drives it exactly as it drives avtomat (``--concurrency`` submissions in flight, one follower).
It reports jobs/s and, per job, the stand-in's CPU and the load generator's: the part of a
``chain`` job's cost that any orchestrator behind this HTTP API and this load generator pays,
whatever it does behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import uvloop
from aiohttp import web

from bench.load import Plan, run
from transport.app import processes

LOG = Path(__file__).resolve().parents[1] / ".bench" / "logs" / "http_floor.log"


def serve(port: int) -> None:
    """The stand-in gateway; runs until killed."""

    async def create(_: web.Request) -> web.Response:
        return web.json_response({"job_id": str(uuid.uuid4()), "status": "pending"}, status=202)

    async def read(request: web.Request) -> web.Response:
        view = {"id": request.match_info["job_id"], "status": "finished", "current_state": "finished"}
        return web.json_response({**view, "finished_at": time.time()})

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/jobs/{name}", create)
    app.router.add_get("/api/v1/jobs/{job_id}", read)
    app.router.add_get("/_public/status", status)
    web.run_app(app, host="127.0.0.1", port=port, print=None, loop=uvloop.new_event_loop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bench.http_floor", "--serve", str(port)]
    with processes.Process(argv, os.environ, LOG) as server:
        server.wait_http_ok(f"{url}/_public/status")
        plan = Plan(path="bench_chain", jobs=args.jobs, concurrency=args.concurrency)
        server_before, load_before = server.cpu_seconds(), processes.cpu_seconds(os.getpid())
        outcome = asyncio.run(run(url, "", plan))
        server_cpu = server.cpu_seconds() - server_before
        load_cpu = processes.cpu_seconds(os.getpid()) - load_before
    finished = len(outcome.finished())
    print(f"{finished} of {args.jobs} jobs, {finished / outcome.span():.0f} jobs/s")
    print(f"  stand-in gateway CPU per job: {server_cpu * 1000 / finished:.3f} ms")
    print(f"  load generator CPU per job:   {load_cpu * 1000 / finished:.3f} ms")


if __name__ == "__main__":
    main()
