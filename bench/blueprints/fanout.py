"""``fanout``: ``dispatch_parallel`` of 10 echo tasks, then an aggregator, then the end state."""

from typing import Any

from engine import ActionFactory, StateMachineBlueprint

fanout = StateMachineBlueprint("bench_fanout", api_version="v1", api_endpoint="/jobs/bench_fanout")

BRANCHES = 10


@fanout.handler_for("start", is_start=True)
async def start(actions: ActionFactory) -> None:
    actions.dispatch_parallel(
        tasks=[{"type": "echo", "params": {"n": i}} for i in range(BRANCHES)],
        aggregate_into="gather",
    )


@fanout.aggregator_for("gather")
async def gather(
    aggregation_results: dict[str, dict[str, Any]], state_history: dict[str, Any], actions: ActionFactory
) -> None:
    state_history["ok"] = sum(1 for r in aggregation_results.values() if r["status"] == "success")
    actions.transition_to("finished")


@fanout.handler_for("finished", is_end=True)
async def finished() -> None:
    pass
