"""Fan-out blueprints the end-to-end tests run against real SDK workers."""

from engine import StateMachineBlueprint

# The seed README's "Parallel Execution and Aggregation" example, as written there (with its
# {"task_type": ...} dicts and its stray parenthesis fixed), on its own endpoint.
files = StateMachineBlueprint("e2e_fanout", api_version="v1", api_endpoint="/jobs/fanout")


@files.handler_for("process_files", is_start=True)
async def fan_out_handler(initial_data, actions):
    tasks_to_dispatch = [
        {"task_type": "file_analysis", "params": {"file": file}} for file in initial_data.get("files", [])
    ]
    actions.dispatch_parallel(tasks=tasks_to_dispatch, aggregate_into="aggregate_results")


@files.aggregator_for("aggregate_results")
async def aggregator_handler(aggregation_results, state_history, actions):
    summary = [res.get("data") for res in aggregation_results.values()]
    state_history["summary"] = summary
    actions.transition_to("processing_complete")


@files.handler_for("processing_complete", is_end=True)
async def processing_complete(state_history):
    state_history["complete"] = True


# Partial failure: one branch's worker answers INVALID_INPUT; the aggregator still runs and
# sees that branch's error beside the others' results (upstream's {"type": ...} dicts).
partial = StateMachineBlueprint("e2e_fanout_partial", api_version="v1", api_endpoint="/jobs/fanout_partial")


@partial.handler_for("start", is_start=True)
async def mixed(initial_data, actions):
    tasks = [{"type": "echo", "params": {"text": text}} for text in initial_data["texts"]]
    tasks.append({"type": "reject", "params": {}})
    actions.dispatch_parallel(tasks, aggregate_into="gather")


@partial.aggregator_for("gather")
async def gather(aggregation_results, context, state_history, actions):
    results = context.aggregation_results.values()
    assert len(results) == len(aggregation_results)
    state_history["echoed"] = sorted(r["data"]["echo"] for r in results if r["status"] == "success")
    state_history["errors"] = [r["error"] for r in results if r["status"] == "failure"]
    actions.transition_to("reported")


@partial.handler_for("reported", is_end=True)
async def reported():
    pass


# Long branches, to cancel while workers run them.
slow = StateMachineBlueprint("e2e_fanout_slow", api_version="v1", api_endpoint="/jobs/fanout_slow")


@slow.handler_for("start", is_start=True)
async def go_slow_in_parallel(initial_data, actions):
    branches = initial_data.get("branches", 3)
    actions.dispatch_parallel([{"type": "sleepy", "params": {"seconds": 30}}] * branches, aggregate_into="woke")


@slow.aggregator_for("woke")
async def all_woke(actions):
    actions.transition_to("done")


@slow.handler_for("done", is_end=True)
async def slow_done():
    pass
