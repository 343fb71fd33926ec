"""An unmodified avtomatika-worker SDK worker for the crash and broker-outage tests.

Its one skill, ``count``, answers every execution with a token no other execution gets:
``<worker id>:<counter>``. A job keeps the tokens of the results it applied, so a result applied
twice, or a task run twice and both results applied, shows up as a repeated or extra token.
"""

import asyncio
import itertools
import os

from avtomatika_worker import Worker

worker = Worker(worker_type="crash", max_concurrent_tasks=16)
WORKER_ID = os.environ["WORKER_ID"]
executions = itertools.count(1)


@worker.skill()
async def count(params: dict) -> dict:
    token = f"{WORKER_ID}:{next(executions)}"
    await asyncio.sleep(float(params.get("seconds", 0.0)))  # keeps a few tasks in flight at any moment
    return {"status": "success", "data": {"token": token}}


if __name__ == "__main__":
    worker.run()
