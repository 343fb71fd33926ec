"""An unmodified avtomatika-worker SDK worker for the crash and broker-outage tests.

Its one skill, ``count``, answers every execution with a token no other execution gets:
``<worker id>:<counter>``. A job keeps the tokens of the results it applied, so a result applied
twice, or a task run twice and both results applied, shows up as a repeated or extra token.
With ``CRASH_RUNS_DIR`` set, every execution also appends its token to ``<worker id>.runs``
there, so the test can tell the runs whose result no job applied (a task run again).
"""

import asyncio
import itertools
import os
from pathlib import Path

from avtomatika_worker import Worker

worker = Worker(worker_type="crash", max_concurrent_tasks=16)
WORKER_ID = os.environ["WORKER_ID"]
RUNS = Path(os.environ["CRASH_RUNS_DIR"], f"{WORKER_ID}.runs") if os.environ.get("CRASH_RUNS_DIR") else None
executions = itertools.count(1)


@worker.skill()
async def count(params: dict) -> dict:
    token = f"{WORKER_ID}:{next(executions)}"
    if RUNS is not None:
        with RUNS.open("a") as runs:  # one short append per run: whole lines even when killed
            runs.write(token + "\n")
    await asyncio.sleep(float(params.get("seconds", 0.0)))  # keeps a few tasks in flight at any moment
    return {"status": "success", "data": {"token": token}}


if __name__ == "__main__":
    worker.run()
