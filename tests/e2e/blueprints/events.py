"""Worker events: the task's ``preview`` event moves the job on before the task's result."""

from engine import StateMachineBlueprint

previews = StateMachineBlueprint("e2e_previews", api_version="v1", api_endpoint="/jobs/previews")


@previews.handler_for("start", is_start=True)
async def render(initial_data, actions):
    actions.dispatch_task(
        "render_preview",
        {"name": initial_data["name"]},
        transitions={"success": "rendered"},
        event_transitions={"preview": "previewed"},
    )


@previews.handler_for("previewed", is_end=True)
async def previewed(state_history, preview_url):
    state_history["shown"] = preview_url


@previews.handler_for("rendered", is_end=True)
async def rendered(state_history):
    state_history["shown"] = "the full render"
