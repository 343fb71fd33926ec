"""Task priority end to end (tests/e2e/test_priority.py): one ``record_order`` task per job, at
the priority the job was submitted with."""

from engine import StateMachineBlueprint

priority = StateMachineBlueprint("e2e_priority", api_version="v1", api_endpoint="/jobs/priority")


@priority.handler_for("start", is_start=True)
async def dispatch(initial_data, actions):
    actions.dispatch_task(
        "record_order",
        {"label": initial_data["label"], "log": initial_data["log"]},
        transitions={"success": "done"},
        priority=initial_data["priority"],
    )


@priority.handler_for("done", is_end=True)
async def done():
    pass
