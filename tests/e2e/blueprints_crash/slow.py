"""A chain whose start handler is slow for some jobs, so a node can be killed while it holds a
frame whose other envelopes are already applied (tests/e2e/test_crash_frames.py).

start (slow when ``initial_data.slow``) -> a -> (count) -> b. The trail and tokens show a step or
result applied twice, as in chain.py. A slow start first touches ``<SLOW_MARKS_DIR>/<job id>``, so
the test knows the handler is running.
"""

import asyncio
import os
from pathlib import Path

from engine import StateMachineBlueprint

slow = StateMachineBlueprint("crash_slow", api_version="v1", api_endpoint="/jobs/crash_slow")

SLOW_SECONDS = 4.0


@slow.handler_for("start", is_start=True)
async def start(job_id, initial_data, state_history, actions):
    if initial_data.get("slow") and os.environ.get("SLOW_MARKS_DIR"):
        await asyncio.to_thread(Path(os.environ["SLOW_MARKS_DIR"], job_id).touch)
        await asyncio.sleep(SLOW_SECONDS)
    state_history.setdefault("trail", []).append("start")
    actions.transition_to("a")


@slow.handler_for("a")
async def a(state_history, actions):
    state_history["trail"].append("a")
    actions.dispatch_task("count", {"seconds": 0.01}, transitions={"success": "b"})


@slow.handler_for("b", is_end=True)
async def b(state_history, token):
    state_history["trail"].append("b")
    state_history.setdefault("tokens", []).append(token)
