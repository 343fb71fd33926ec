"""``long``: one task that sleeps ``initial_data["seconds"]`` (default 60) on an SDK worker, which
heartbeats meanwhile; then the end state. Shows a long task is neither retried nor run twice
(the workers log every execution; see ``bench.workers.count_executions``)."""

import time
from typing import Any

from engine import ActionFactory, StateMachineBlueprint

long = StateMachineBlueprint("bench_long", api_version="v1", api_endpoint="/jobs/bench_long")

DEFAULT_SECONDS = 60.0
RESULT_MARGIN_SECONDS = 120  # the result deadline is the sleep plus this


@long.handler_for("start", is_start=True)
async def start(initial_data: dict[str, Any], state_history: dict[str, Any], actions: ActionFactory) -> None:
    seconds = float(initial_data.get("seconds", DEFAULT_SECONDS))
    state_history["dispatched_at"] = time.time()
    actions.dispatch_task(
        task_type="sleep",
        params={"seconds": seconds, "n": initial_data.get("n", 0)},
        transitions={"success": "finished", "failure": "failed"},
        result_timeout_seconds=int(seconds) + RESULT_MARGIN_SECONDS,
    )


@long.handler_for("finished", is_end=True)
async def finished() -> None:
    pass


@long.handler_for("failed", is_end=True)
async def failed() -> None:
    pass
