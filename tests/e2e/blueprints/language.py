"""Blueprints for the end-to-end tests of approvals, child jobs, error classes and redrive."""

from engine import StateMachineBlueprint

# A person decides; with ``timeout`` in the initial data, no decision in time expires the job.
approval = StateMachineBlueprint("e2e_approval", api_version="v1", api_endpoint="/jobs/approval")


@approval.handler_for("start", is_start=True)
async def ask(initial_data, actions):
    actions.await_human_approval(
        "slack",
        "deploy?",
        transitions={"approve": "approved", "reject": "rejected", "timeout": "expired"},
        timeout=initial_data.get("timeout"),
    )


@approval.handler_for("approved", is_end=True)
async def approved(state_history):
    state_history["outcome"] = "approved"


@approval.handler_for("rejected", is_end=True)
async def rejected(state_history):
    state_history["outcome"] = "rejected"


@approval.handler_for("expired", is_end=True)
async def expired(state_history):
    state_history["outcome"] = "expired"


# A parent job that runs a child job and takes over its result.
parent = StateMachineBlueprint("e2e_parent", api_version="v1", api_endpoint="/jobs/parent")


@parent.handler_for("start", is_start=True)
async def spawn(initial_data, actions):
    actions.run_blueprint("e2e_child", dict(initial_data), transitions={"success": "merge", "failure": "orphaned"})


@parent.handler_for("merge", is_end=True)
async def merge(child_result, state_history):
    state_history["child"] = child_result


@parent.handler_for("orphaned", is_end=True)
async def orphaned(child_result, state_history):
    state_history["child"] = child_result


child = StateMachineBlueprint("e2e_child", api_version="v1", api_endpoint="/jobs/child")


@child.handler_for("start", is_start=True).when("context.initial_data.seconds > 0")
async def sleep_a_while(initial_data, actions):
    actions.dispatch_task("sleepy", {"seconds": initial_data["seconds"]}, transitions={"success": "done"})


@child.handler_for("start", is_start=True)
async def echo_it(initial_data, actions):
    actions.dispatch_task("echo", {"text": initial_data["text"]}, transitions={"success": "done"})


@child.handler_for("done", is_end=True)
async def child_done():
    pass


# A worker fails with the error code the job names; ``handled`` maps "failure" to a state.
errors = StateMachineBlueprint("e2e_error_classes", api_version="v1", api_endpoint="/jobs/error-classes")


@errors.handler_for("start", is_start=True).when("context.initial_data.handled == True")
async def fail_handled(initial_data, actions):
    params = {"code": initial_data["code"]}
    actions.dispatch_task("fail_with", params, transitions={"success": "ok", "failure": "handled"}, max_attempts=2)


@errors.handler_for("start", is_start=True)
async def fail_unhandled(initial_data, actions):
    actions.dispatch_task("fail_with", {"code": initial_data["code"]}, transitions={"success": "ok"}, max_attempts=2)


@errors.handler_for("ok", is_end=True)
async def ok():
    pass


@errors.handler_for("handled", is_end=True)
async def handled(task_error, state_history):
    state_history["task_error"] = task_error


# The worker fails permanently the first time only: quarantined, then redriven to the end.
redrive = StateMachineBlueprint("e2e_redrive", api_version="v1", api_endpoint="/jobs/redrive")


@redrive.handler_for("start", is_start=True)
async def try_once(actions):
    actions.dispatch_task("fail_first", {}, transitions={"success": "recovered"})


@redrive.handler_for("recovered", is_end=True)
async def recovered_at_last(state_history):
    state_history["recovered"] = True
