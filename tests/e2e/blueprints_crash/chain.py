"""A chain that makes a duplicated step or a twice-applied result visible in the job's result.

start -> a -> (count) -> b -> (count) -> c. Every handler appends its state's name to
``state_history["trail"]``; the handler after each task appends the task's token (unique per
execution, see tests/e2e/crash_worker.py) to ``state_history["tokens"]``. A finished job must
show exactly ["start", "a", "b", "c"] and two distinct tokens.
"""

from engine import StateMachineBlueprint

chain = StateMachineBlueprint("crash_chain", api_version="v1", api_endpoint="/jobs/crash_chain")

TASK = {"seconds": 0.05}


@chain.handler_for("start", is_start=True)
async def start(state_history, actions):
    state_history.setdefault("trail", []).append("start")
    actions.transition_to("a")


@chain.handler_for("a")
async def a(state_history, actions):
    state_history["trail"].append("a")
    actions.dispatch_task("count", TASK, transitions={"success": "b"})


@chain.handler_for("b")
async def b(state_history, token, actions):
    state_history["trail"].append("b")
    state_history.setdefault("tokens", []).append(token)
    actions.dispatch_task("count", TASK, transitions={"success": "c"})


@chain.handler_for("c", is_end=True)
async def c(state_history, token):
    state_history["trail"].append("c")
    state_history["tokens"].append(token)
