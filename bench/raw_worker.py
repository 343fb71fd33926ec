"""A minimal RXON worker over raw HTTP, for the benchmarks: many concurrent long-polls in one
process, each answering its task at once. Where the SDK workers are the bottleneck, this shows
the orchestrator's own ceiling.

It speaks what the avtomatika-worker SDK speaks (``bench/sdk_worker.py``'s skills ``echo`` and
``sleep``, the same results): ``POST /_worker/workers/register``, a heartbeat every
``HEARTBEAT_SECONDS`` listing the tasks in hand (which extends their leases), long-poll
``GET /_worker/workers/{id}/tasks/next?timeout=...&available_skills=...`` and
``POST /_worker/tasks/result``; every request carries ``X-Worker-Token``, ``X-Worker-ID`` and
``X-RXON-Version``, and every message a ``timestamp`` and a signature with the worker token in
rxon's canonical form, as the SDK sends them. Unlike the SDK it does not verify the task's ``sig``
(that is the worker's cost, not the orchestrator's) and it ignores ``cancel_task_ids``.

All pollers share one worker id. A poll answered 404 ("not found": the registration expired)
registers again. Network errors are retried after ``RETRY_DELAY``; a result is retried
``RESULT_ATTEMPTS`` times, then dropped (its lease lapsing hands the task back to its job).

Run as a script by ``bench.workers.raw_workers``; configured by the environment: ``WORKER_ID``,
``WORKER_TOKEN``, ``ORCHESTRATOR_URL``, ``RAW_POLLERS`` (default 16), ``TASK_POLL_TIMEOUT``
(seconds, default 2), ``BENCH_EXECUTIONS_FILE`` (one line ``job_id task_id n`` per skill
invocation, if set). SIGTERM or SIGINT stops it: polls and tasks in hand are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
import orjson
from rxon.constants import (
    AUTH_HEADER_WORKER,
    AUTH_HEADER_WORKER_ID,
    ENDPOINT_TASK_NEXT,
    ENDPOINT_TASK_RESULT,
    ENDPOINT_WORKER_HEARTBEAT,
    ENDPOINT_WORKER_REGISTER,
    PROTOCOL_VERSION,
    PROTOCOL_VERSION_HEADER,
)
from rxon.security import sign_payload

SKILLS = ("echo", "sleep")
HEARTBEAT_SECONDS = 5.0
RETRY_DELAY = 0.1
RESULT_ATTEMPTS = 3
HTTP_NO_CONTENT, HTTP_NOT_FOUND = 204, 404


@dataclass(frozen=True)
class Config:
    url: str
    worker_id: str
    token: str
    pollers: int = 16
    poll_timeout: float = 2.0
    executions_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        return cls(
            url=env["ORCHESTRATOR_URL"].rstrip("/"),
            worker_id=env["WORKER_ID"],
            token=env["WORKER_TOKEN"],
            pollers=int(env.get("RAW_POLLERS", "16")),
            poll_timeout=float(env.get("TASK_POLL_TIMEOUT", "2")),
            executions_file=env.get("BENCH_EXECUTIONS_FILE") or None,
        )


class NotRegistered(Exception):
    """The orchestrator does not know this worker (404): register again."""


@dataclass
class RawWorker:
    config: Config
    http: aiohttp.ClientSession
    executions: TextIO | None = None
    in_hand: set[str] = field(default_factory=set)  # task ids being run, for the heartbeat

    async def register_until_done(self) -> None:
        """Register, retrying network and server errors every ``RETRY_DELAY`` seconds."""
        while True:
            body = {
                "worker_id": self.config.worker_id,
                "worker_type": "bench-raw",
                "supported_skills": [{"name": skill} for skill in SKILLS],
                "available_skills": list(SKILLS),
                "resources": {"properties": {"cpu_cores": 1, "ram_gb": 1}},
                "installed_software": {"python": f"{sys.version_info.major}.{sys.version_info.minor}"},
                "capabilities": {"hostname": socket.gethostname(), "ip_address": "127.0.0.1"},
            }
            try:
                await self._send("POST", ENDPOINT_WORKER_REGISTER, body)
                return
            except (aiohttp.ClientError, TimeoutError, NotRegistered) as exc:
                print(f"register failed: {exc!r}", file=sys.stderr, flush=True)
                await asyncio.sleep(RETRY_DELAY)

    async def heartbeat_forever(self) -> None:
        endpoint = ENDPOINT_WORKER_HEARTBEAT.format(worker_id=self.config.worker_id)
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            status = "busy" if len(self.in_hand) >= self.config.pollers else "idle"
            body = {"worker_id": self.config.worker_id, "status": status, "current_tasks": sorted(self.in_hand)}
            try:
                await self._send("PATCH", endpoint, body)
            except NotRegistered:
                await self.register_until_done()
            except (aiohttp.ClientError, TimeoutError) as exc:
                print(f"heartbeat failed: {exc!r}", file=sys.stderr, flush=True)

    async def poll_forever(self) -> None:
        """Take a task, run it, post its result; again."""
        url = self.config.url + ENDPOINT_TASK_NEXT.format(worker_id=self.config.worker_id)
        query = {"timeout": str(self.config.poll_timeout), "available_skills": ",".join(SKILLS)}
        limit = aiohttp.ClientTimeout(total=self.config.poll_timeout + 5)
        while True:
            try:
                async with self.http.get(url, params=query, timeout=limit) as resp:
                    if resp.status == HTTP_NO_CONTENT:
                        continue
                    if resp.status == HTTP_NOT_FOUND:
                        raise NotRegistered(await resp.text())
                    resp.raise_for_status()
                    task = orjson.loads(await resp.read())
            except NotRegistered:
                await self.register_until_done()
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                print(f"poll failed: {exc!r}", file=sys.stderr, flush=True)
                await asyncio.sleep(RETRY_DELAY)
                continue
            await self._answer(task)

    async def _answer(self, task: dict[str, Any]) -> None:
        task_id, job_id = str(task["task_id"]), str(task["job_id"])
        self.in_hand.add(task_id)
        try:
            started = time.perf_counter()
            data = await self._run(task)
            result = {
                "job_id": job_id,
                "task_id": task_id,
                "worker_id": self.config.worker_id,
                "origin_worker_id": self.config.worker_id,
                "data": data,
                "costs": {"execution_time_seconds": round(time.perf_counter() - started, 4)},
            }
            for attempt in range(RESULT_ATTEMPTS):
                try:
                    await self._send("POST", ENDPOINT_TASK_RESULT, result)
                    return
                except (aiohttp.ClientError, TimeoutError) as exc:
                    print(f"result {task_id} attempt {attempt + 1} failed: {exc!r}", file=sys.stderr, flush=True)
                    await asyncio.sleep(RETRY_DELAY * 2**attempt)
        finally:
            self.in_hand.discard(task_id)

    async def _run(self, task: dict[str, Any]) -> dict[str, Any]:
        """The skill: ``echo`` returns ``n`` at once, ``sleep`` waits ``seconds`` first."""
        started_at = time.time()
        params = task.get("params") or {}
        if self.executions is not None:
            self.executions.write(f"{task['job_id']} {task['task_id']} {params.get('n')}\n")
        if task.get("type") == "sleep":
            seconds = float(params["seconds"])
            await asyncio.sleep(seconds)
            return {"slept": seconds, "started_at": started_at}
        return {"echo": params.get("n"), "started_at": started_at}

    async def _send(self, method: str, endpoint: str, body: dict[str, Any]) -> Any:
        """``body`` stamped and signed as the SDK does, sent; the JSON answer. 404 raises
        ``NotRegistered``, other 4xx/5xx ``aiohttp.ClientResponseError``."""
        body = {**body, "timestamp": int(time.time())}
        body["security"] = {
            "signature": sign_payload(body, self.config.token),
            "signer_id": self.config.worker_id,
        }
        async with self.http.request(method, self.config.url + endpoint, data=orjson.dumps(body)) as resp:
            if resp.status == HTTP_NOT_FOUND:
                raise NotRegistered(await resp.text())
            resp.raise_for_status()
            return orjson.loads(await resp.read() or b"null")


async def main(config: Config, executions: TextIO | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    headers = {
        AUTH_HEADER_WORKER: config.token,
        AUTH_HEADER_WORKER_ID: config.worker_id,
        PROTOCOL_VERSION_HEADER: PROTOCOL_VERSION,
        "Content-Type": "application/json",
    }
    connector = aiohttp.TCPConnector(limit=config.pollers + 4)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
        worker = RawWorker(config, http, executions)
        await worker.register_until_done()
        async with asyncio.TaskGroup() as tg:
            running = [tg.create_task(worker.poll_forever()) for _ in range(config.pollers)]
            running.append(tg.create_task(worker.heartbeat_forever()))
            await stop.wait()
            for task in running:
                task.cancel()


def run(config: Config) -> None:
    """Run until SIGTERM or SIGINT, logging executions to ``config.executions_file`` if set."""
    with contextlib.ExitStack() as files:
        log = files.enter_context(open(config.executions_file, "a", buffering=1)) if config.executions_file else None
        asyncio.run(main(config, log))


if __name__ == "__main__":
    run(Config.from_env(os.environ))
