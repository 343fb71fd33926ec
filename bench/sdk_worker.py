"""An unmodified avtomatika-worker SDK worker for the benchmarks: ``echo`` answers at once.

Run as a script (``python bench/sdk_worker.py``) by ``bench.workers``; configured by the SDK's
environment variables.
"""

from avtomatika_worker import Worker

worker = Worker(worker_type="bench", max_concurrent_tasks=10)


@worker.skill()
async def echo(params: dict) -> dict:  # type: ignore[type-arg]
    return {"status": "success", "data": {"echo": params.get("n")}}


if __name__ == "__main__":
    worker.run()
