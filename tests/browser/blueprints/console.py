"""Blueprints the console's browser tests drive, beside the demo blueprint."""

from pathlib import Path

from blueprints.demo import demo
from engine import StateMachineBlueprint

__all__ = ["demo"]

# Waits for a worker with a skill nobody has: a job to cancel from its page.
waiting = StateMachineBlueprint("console_waiting", api_version="v1", api_endpoint="/jobs/console_waiting")


@waiting.handler_for("start", is_start=True)
async def ask_nobody(actions):
    actions.dispatch_task("nobody_has_this_skill", {}, transitions={"success": "done"})


@waiting.handler_for("done", is_end=True)
async def waited():
    pass


# Waits for a human decision.
approval = StateMachineBlueprint("console_approval", api_version="v1", api_endpoint="/jobs/console_approval")


@approval.handler_for("start", is_start=True)
async def ask(actions):
    actions.await_human_approval("console", "Ship it?", {"approve": "shipped", "reject": "dropped"})


@approval.handler_for("shipped", is_end=True)
async def shipped(state_history):
    state_history["shipped"] = True


@approval.handler_for("dropped", is_end=True)
async def dropped():
    pass


# Its handler raises until the file initial_data["fixed"] names exists: quarantined, then redriven.
flaky = StateMachineBlueprint("console_flaky", api_version="v1", api_endpoint="/jobs/console_flaky")


def _is_fixed(path: str) -> bool:
    return Path(path).exists()


@flaky.handler_for("start", is_start=True)
async def try_it(initial_data, actions):
    if not _is_fixed(initial_data["fixed"]):
        raise RuntimeError("not fixed yet")
    actions.transition_to("fixed")


@flaky.handler_for("fixed", is_end=True)
async def fixed(state_history):
    state_history["fixed"] = True
