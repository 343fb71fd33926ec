"""Blueprints of tests/e2e/test_files.py: object storage end to end."""

from engine import StateMachineBlueprint

# A worker writes a result file; the SDK uploads it to S3 and reports its data_metadata.
result_file = StateMachineBlueprint("e2e_result_file", api_version="v1", api_endpoint="/jobs/result_file")


@result_file.handler_for("start", is_start=True)
async def make(initial_data, actions):
    actions.dispatch_task("make_file", {"size": initial_data["size"]}, transitions={"success": "made"})


@result_file.handler_for("made", is_end=True)
async def made():
    pass


# A large input: the claim check offloads it; the handler sees the value, the worker a URL of it.
big_input = StateMachineBlueprint("e2e_big_input", api_version="v1", api_endpoint="/jobs/big_input")


@big_input.handler_for("start", is_start=True)
async def measure(initial_data, state_history, actions):
    state_history["seen_by_handler"] = len(initial_data["blob"])
    actions.dispatch_task("fetch_length", {"blob": initial_data["blob"]}, transitions={"success": "measured"})


@big_input.handler_for("measured", is_end=True)
async def measured():
    pass


# The seed README's S3 example ("process_data", verbatim but for its comments), after a start
# state that waits for the client to upload the file and approve.
seed_files = StateMachineBlueprint("e2e_seed_files", api_version="v1", api_endpoint="/jobs/seed_files")


@seed_files.handler_for("start", is_start=True)
async def wait_for_upload(actions):
    actions.await_human_approval(
        integration="upload", message="upload large_dataset.csv", transitions={"approve": "process_data"}
    )


@seed_files.handler_for("process_data")
async def process_data(task_files, actions):
    # Streaming download of a large file
    local_path = await task_files.download("large_dataset.csv")

    # ... process data ...
    rows = local_path.read_text().count("\n")

    # Upload results
    await task_files.write_json("results.json", {"status": "done", "rows": rows})

    actions.transition_to("finished")


@seed_files.handler_for("finished", is_end=True)
async def finished():
    pass
