"""A fan-out that makes a duplicated step or a twice-applied branch result visible.

start -> (5 parallel ``count`` tasks) -> gather -> done. ``gather`` appends every branch's token
to ``state_history["tokens"]``; a finished job must show the trail ["start", "gather", "done"]
and five distinct tokens.
"""

from engine import StateMachineBlueprint

fanout = StateMachineBlueprint("crash_fanout", api_version="v1", api_endpoint="/jobs/crash_fanout")

BRANCHES = 5


@fanout.handler_for("start", is_start=True)
async def start(state_history, actions):
    state_history.setdefault("trail", []).append("start")
    tasks = [{"task_type": "count", "params": {"seconds": 0.05}} for _ in range(BRANCHES)]
    actions.dispatch_parallel(tasks=tasks, aggregate_into="gather")


@fanout.aggregator_for("gather")
async def gather(aggregation_results, state_history, actions):
    state_history["trail"].append("gather")
    state_history["tokens"] = [r["data"]["token"] for r in aggregation_results.values() if r["status"] == "success"]
    actions.transition_to("done")


@fanout.handler_for("done", is_end=True)
async def done(state_history):
    state_history["trail"].append("done")
