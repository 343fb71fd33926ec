"""An unmodified avtomatika-worker SDK worker with the skills the end-to-end tests use."""

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import msgspec
from avtomatika_worker import Worker

# E2E_MAX_CONCURRENT_TASKS: how many tasks the worker runs at once (test_priority.py runs one).
worker = Worker(worker_type="e2e", max_concurrent_tasks=int(os.environ.get("E2E_MAX_CONCURRENT_TASKS", "8")))
MARKERS = Path(os.environ.get("E2E_MARKER_DIR", "/tmp"))


@worker.skill()
async def echo(params: dict, task_id: str, job_id: str, send_progress) -> dict:
    await send_progress(task_id, job_id, 0.5, "echoing")
    return {"status": "success", "data": {"echo": params["text"], "worker": os.environ["WORKER_ID"]}}


@worker.skill()
async def whoami(params: dict, security, metadata) -> dict:
    """What the task carried besides its params: the job's ``security`` and ``metadata``."""
    return {"status": "success", "data": {"security": msgspec.to_builtins(security), "metadata": metadata}}


@worker.skill()
async def file_analysis(params: dict) -> dict:
    name = params["file"]
    return {"status": "success", "data": {"file": name, "length": len(name)}}


@worker.skill()
async def reject(params: dict) -> dict:
    return {"status": "failure", "error": {"code": "INVALID_INPUT_ERROR", "message": "the input is unusable"}}


@worker.skill()
async def explode(params: dict) -> dict:
    raise RuntimeError("boom")


@worker.skill()
async def sleepy(params: dict, task_id: str, job_id: str, send_progress) -> dict:
    (MARKERS / f"started-{job_id}").touch()
    await send_progress(task_id, job_id, 0.1, "sleeping")
    try:
        await asyncio.sleep(params["seconds"])
    except asyncio.CancelledError:
        (MARKERS / f"cancelled-{job_id}").touch()
        raise
    return {"status": "success", "data": {}}


@worker.skill()
async def long_task(params: dict, job_id: str) -> dict:
    """Marks which worker started it (``started-{job_id}-{worker id}``), then works for a while."""
    (MARKERS / f"started-{job_id}-{os.environ['WORKER_ID']}").touch()
    await asyncio.sleep(params["seconds"])
    return {"status": "success", "data": {"worker": os.environ["WORKER_ID"]}}


@worker.skill()
async def generate(params: dict, add_to_hot_skills) -> dict:
    """With ``load``, makes ``params["model_name"]`` hot on this worker (the SDK reports it in
    ``hot_skills`` because a skill of that name exists, below); then works ``seconds``."""
    if params.get("load"):
        add_to_hot_skills(params["model_name"])
    await asyncio.sleep(params.get("seconds", 0))
    return {"status": "success", "data": {"worker": os.environ["WORKER_ID"]}}


@worker.skill("model-x")
async def model_x(params: dict) -> dict:
    """The model as a skill: the SDK only reports registered skill names as hot."""
    return {"status": "success", "data": {}}


@worker.skill()
async def fail_with(params: dict) -> dict:
    """Fails with the error code ``params["code"]``."""
    return {"status": "failure", "error": {"code": params["code"], "message": f"failing with {params['code']}"}}


@worker.skill()
async def fail_first(params: dict, job_id: str) -> dict:
    """Fails permanently the first time it runs for a job, then succeeds."""
    marker = MARKERS / f"attempted-{job_id}"
    if not marker.exists():
        marker.touch()
        return {"status": "failure", "error": {"code": "PERMANENT_ERROR", "message": "not yet"}}
    return {"status": "success", "data": {}}


@worker.skill()
async def record_order(params: dict) -> dict:
    """Appends ``params["label"]`` to the marker file ``params["log"]``: the order tasks ran in."""
    with (MARKERS / params["log"]).open("a") as log:
        log.write(params["label"] + "\n")
    return {"status": "success", "data": {"worker": os.environ["WORKER_ID"]}}


@worker.skill(events_schema={"preview": {"type": "object", "properties": {"preview_url": {"type": "string"}}}})
async def render_preview(params: dict, task_id: str, job_id: str, send_progress, send_event) -> dict:
    """Reports progress, sends a ``preview`` event (the blueprint moves on at it), then works on
    until told to stop (``superseded-{job_id}``) or 30 s pass."""
    await send_progress(task_id, job_id, 0.25, "rendering")
    await send_event("preview", {"preview_url": f"{params['name']}-preview.png"})
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        (MARKERS / f"superseded-{job_id}").touch()
        raise
    return {"status": "success", "data": {}}


@worker.skill()
async def make_file(params: dict, task_id: str) -> dict:
    """Writes ``params["size"]`` bytes into TASK_FILES_DIR; the SDK uploads the file it returns."""
    path = Path(os.environ["TASK_FILES_DIR"]) / task_id / "result.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(i % 251 for i in range(params["size"])))
    return {"status": "success", "data": {"file": str(path)}}


@worker.skill()
async def fetch_length(params: dict) -> dict:
    """Downloads ``params["blob"]``, the URL the orchestrator handed out for an offloaded value."""
    url = params["blob"]
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.read()
    return {"status": "success", "data": {"url_scheme": url.split(":")[0], "fetched": len(json.loads(body))}}


if __name__ == "__main__":
    worker.run()
