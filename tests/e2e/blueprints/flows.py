"""Blueprints the end-to-end tests run against a real ``avtomat up`` and real SDK workers."""

from engine import StateMachineBlueprint

# A .when() branch: "left" goes through a worker, anything else skips it.
branch = StateMachineBlueprint("e2e_branch", api_version="v1", api_endpoint="/jobs/branch")


LEFT = "context.initial_data.side == 'left' and not context.initial_data.skip"


@branch.handler_for("start", is_start=True).when(LEFT)
async def go_left(initial_data, actions):
    actions.dispatch_task("echo", {"text": initial_data["text"]}, transitions={"success": "done"})


@branch.handler_for("start", is_start=True)
async def go_right(state_history, actions):
    state_history["side"] = "right"
    actions.transition_to("done")


@branch.handler_for("done", is_end=True)
async def done(state_history):
    state_history["completed"] = True


# Worker errors: the worker keeps raising (retried, then the blueprint's "failure" transition).
# Each error class on its own: tests/e2e/test_language.py.
errors = StateMachineBlueprint("e2e_errors", api_version="v1", api_endpoint="/jobs/errors")


@errors.handler_for("start", is_start=True)
async def pick(initial_data, actions):
    actions.dispatch_task(
        initial_data["skill"], {}, transitions={"success": "ok", "failure": "recovered"}, max_attempts=2
    )


@errors.handler_for("ok", is_end=True)
async def ok():
    pass


@errors.handler_for("recovered", is_end=True)
async def recovered(state_history):
    state_history["recovered"] = True


# A skill no worker has: the job waits, then fails at its dispatch timeout.
orphan = StateMachineBlueprint("e2e_orphan", api_version="v1", api_endpoint="/jobs/orphan")


@orphan.handler_for("start", is_start=True)
async def ask_nobody(actions):
    actions.dispatch_task("nobody_has_this_skill", {}, transitions={"success": "never"})


@orphan.handler_for("never", is_end=True)
async def never():
    pass


# A long task, to cancel while the worker runs it.
slow = StateMachineBlueprint("e2e_slow", api_version="v1", api_endpoint="/jobs/slow")


@slow.handler_for("start", is_start=True)
async def go_slow(actions):
    actions.dispatch_task("sleepy", {"seconds": 30}, transitions={"success": "woke"})


@slow.handler_for("woke", is_end=True)
async def woke():
    pass


# A task that outlives several task leases; the test kills the worker running it.
lease = StateMachineBlueprint("e2e_lease", api_version="v1", api_endpoint="/jobs/lease")


@lease.handler_for("start", is_start=True)
async def work_long(initial_data, actions):
    actions.dispatch_task("long_task", {"seconds": initial_data["seconds"]}, transitions={"success": "worked"})


@lease.handler_for("worked", is_end=True)
async def worked():
    pass


# Routing: the task's params (``model_name`` among them) are the job's initial data.
generate = StateMachineBlueprint("e2e_generate", api_version="v1", api_endpoint="/jobs/generate")


@generate.handler_for("start", is_start=True)
async def ask_for_generation(initial_data, actions):
    actions.dispatch_task("generate", dict(initial_data), transitions={"success": "generated"})


@generate.handler_for("generated", is_end=True)
async def generated():
    pass


# The job body's security, metadata and policy (README, "The job body"): dispatches
# initial_data["skill"] (``whoami`` by default), which answers what its task carried.
context = StateMachineBlueprint("e2e_context", api_version="v1", api_endpoint="/jobs/context")


@context.handler_for("start", is_start=True)
async def ask(initial_data, actions):
    skill = initial_data.get("skill", "whoami")
    actions.dispatch_task(skill, {"text": "x"}, transitions={"success": "told"})


@context.handler_for("told", is_end=True)
async def told():
    pass
