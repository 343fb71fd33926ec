"""The child holon's blueprints in tests/e2e/test_holon.py: its skills at the parent."""

from typing import Any

from engine import ActionFactory, StateMachineBlueprint

# Through the child's own SDK worker: the echo comes back upper-cased.
shout = StateMachineBlueprint("shout")


@shout.handler_for("start", is_start=True)
async def ask_echo(initial_data: dict[str, Any], actions: ActionFactory) -> None:
    actions.dispatch_task("echo", {"text": initial_data["text"]}, transitions={"success": "shouted"})


@shout.handler_for("shouted", is_end=True)
async def shouted(echo: str, state_history: dict[str, Any]) -> None:
    state_history["shouted"] = echo.upper()


# Fails at once: its handler asks for an argument that exists nowhere.
refuse = StateMachineBlueprint("refuse")


@refuse.handler_for("start", is_start=True)
async def ask_the_impossible(no_such_argument: Any, actions: ActionFactory) -> None:
    actions.transition_to("never")


@refuse.handler_for("never", is_end=True)
async def never() -> None:
    pass


# Runs the SDK worker's ``sleepy`` skill for a minute: long enough to be cancelled.
nap = StateMachineBlueprint("nap")


@nap.handler_for("start", is_start=True)
async def sleep(actions: ActionFactory) -> None:
    actions.dispatch_task("sleepy", {"seconds": 60}, transitions={"success": "rested"})


@nap.handler_for("rested", is_end=True)
async def rested() -> None:
    pass
