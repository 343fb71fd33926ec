"""The parent orchestrator's blueprint in tests/e2e/test_holon.py: one task whose type is a
blueprint of the child holon (``initial_data["child"]``), the child's params passed along."""

from typing import Any

from engine import ActionFactory, StateMachineBlueprint

delegate = StateMachineBlueprint("delegate", api_version="v1", api_endpoint="/jobs/delegate")


@delegate.handler_for("start", is_start=True)
async def start(initial_data: dict[str, Any], actions: ActionFactory) -> None:
    actions.dispatch_task(
        task_type=initial_data["child"],
        params=initial_data.get("params", {}),
        transitions={"success": "done", "failure": "child_failed"},
    )


@delegate.handler_for("done", is_end=True)
async def done(state_history: dict[str, Any]) -> None:
    state_history["delegated"] = True


@delegate.handler_for("child_failed", is_end=True)
async def child_failed(task_error: dict[str, Any], state_history: dict[str, Any]) -> None:
    state_history["child_error"] = task_error
