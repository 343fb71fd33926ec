"""``echo``: one task to an SDK worker that answers at once, then the end state.

``dispatched_at`` (orchestrator wall clock, just before the dispatch) and the worker's
``started_at`` (merged in from the task result) give the dispatch-to-worker-start latency.
"""

import time
from typing import Any

from engine import ActionFactory, StateMachineBlueprint

echo = StateMachineBlueprint("bench_echo", api_version="v1", api_endpoint="/jobs/bench_echo")


@echo.handler_for("start", is_start=True)
async def start(initial_data: dict[str, Any], state_history: dict[str, Any], actions: ActionFactory) -> None:
    state_history["dispatched_at"] = time.time()
    actions.dispatch_task(
        task_type="echo",
        params={"n": initial_data.get("n", 0)},
        transitions={"success": "finished", "failure": "failed"},
    )


@echo.handler_for("finished", is_end=True)
async def finished() -> None:
    pass


@echo.handler_for("failed", is_end=True)
async def failed() -> None:
    pass
