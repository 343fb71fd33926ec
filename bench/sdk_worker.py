"""An unmodified avtomatika-worker SDK worker for the benchmarks.

Skills: ``echo`` answers at once; ``sleep`` awaits ``params["seconds"]`` (the SDK heartbeats
meanwhile). Both report ``started_at``, the wall time the skill began, and append one line per
invocation (``job_id task_id n``) to the file named by ``BENCH_EXECUTIONS_FILE``, if set, so a
run can count tasks executed more than once.

Run as a script (``python bench/sdk_worker.py``) by ``bench.workers``; configured by the SDK's
environment variables.
"""

import asyncio
import os
import time
from typing import Any

from avtomatika_worker import Worker

worker = Worker(worker_type="bench", max_concurrent_tasks=10)

_log_path = os.environ.get("BENCH_EXECUTIONS_FILE")
_executions = open(_log_path, "a", buffering=1) if _log_path else None  # noqa: SIM115 (open for the process's life)


def _executed(job_id: str, task_id: str, params: dict[str, Any]) -> None:
    if _executions is not None:
        _executions.write(f"{job_id} {task_id} {params.get('n')}\n")


@worker.skill()
async def echo(params: dict, job_id: str, task_id: str) -> dict:  # type: ignore[type-arg]
    started_at = time.time()
    _executed(job_id, task_id, params)
    return {"status": "success", "data": {"echo": params.get("n"), "started_at": started_at}}


@worker.skill()
async def sleep(params: dict, job_id: str, task_id: str) -> dict:  # type: ignore[type-arg]
    started_at = time.time()
    _executed(job_id, task_id, params)
    seconds = float(params["seconds"])
    await asyncio.sleep(seconds)
    return {"status": "success", "data": {"slept": seconds, "started_at": started_at}}


if __name__ == "__main__":
    worker.run()
