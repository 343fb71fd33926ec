"""The demo blueprint: greets someone through a worker, or skips the worker when asked.

    start --(mode == 'quick')--> greeted            (no worker involved)
    start --(otherwise)--------> greet --success--> greeted
                                       --failure--> not_greeted

Run ``avtomat up``, start the demo worker (``blueprints/workers/demo_worker.py``) and submit:
``curl -H "X-Client-Token: $CLIENT_TOKEN" -d '{"initial_data": {"name": "Ada"}}' \
http://127.0.0.1:8080/api/v1/jobs/demo``
"""

from engine import ActionFactory, StateMachineBlueprint

demo = StateMachineBlueprint("demo", api_version="v1", api_endpoint="/jobs/demo")


@demo.handler_for("start", is_start=True).when("context.initial_data.mode == 'quick'")
async def quick_start(initial_data: dict, state_history: dict, actions: ActionFactory) -> None:
    state_history["greeting"] = f"Hi, {initial_data.get('name', 'stranger')}."
    actions.transition_to("greeted")


@demo.handler_for("start", is_start=True)
async def start(actions: ActionFactory) -> None:
    actions.transition_to("greet")


@demo.handler_for("greet")
async def greet(initial_data: dict, actions: ActionFactory) -> None:
    actions.dispatch_task(
        task_type="greet",
        params={"name": initial_data.get("name", "stranger")},
        transitions={"success": "greeted", "failure": "not_greeted"},
    )


@demo.handler_for("greeted", is_end=True)
async def greeted(job_id: str, greeting: str) -> None:
    """``greeting`` is injected from state_history, where the worker's result was merged."""


@demo.handler_for("not_greeted", is_end=True)
async def not_greeted(state_history: dict) -> None:
    state_history["greeting"] = None
