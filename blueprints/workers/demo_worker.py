"""The demo worker, built on the unmodified avtomatika-worker SDK. It has one skill, ``greet``.

    WORKER_ID=demo-worker-1 WORKER_TOKEN=<GLOBAL_WORKER_TOKEN> \
    ORCHESTRATOR_SECRET_KEY=<ORCHESTRATOR_SECRET_KEY> ORCHESTRATOR_URL=http://127.0.0.1:8080 \
    python blueprints/workers/demo_worker.py
"""

import asyncio
from typing import Any

from avtomatika_worker import Worker

worker = Worker(worker_type="demo", max_concurrent_tasks=4)


@worker.skill()
async def greet(params: dict[str, Any], task_id: str, job_id: str, send_progress: Any) -> dict[str, Any]:
    """Greets ``params["name"]``."""
    name = str(params.get("name") or "").strip()
    if not name:
        return {"status": "failure", "error": {"code": "INVALID_INPUT_ERROR", "message": "name is empty"}}
    await send_progress(task_id, job_id, 0.5, f"composing a greeting for {name}")
    await asyncio.sleep(0.2)
    return {"status": "success", "data": {"greeting": f"Hello, {name}!"}}


if __name__ == "__main__":
    worker.run()
