"""A blueprint whose worker echoes the creating client's plan and params (tests/e2e/test_tenancy.py)."""

from engine import StateMachineBlueprint

plans = StateMachineBlueprint("e2e_plans", api_version="v1", api_endpoint="/jobs/plans")


@plans.handler_for("start", is_start=True)
async def ask(client, actions):
    text = f"{client.id}:{client.plan}:{client.params.get('tier')}"
    actions.dispatch_task("echo", {"text": text}, transitions={"success": "done"})


@plans.handler_for("done", is_end=True)
async def done(state_history):
    state_history["completed"] = True
