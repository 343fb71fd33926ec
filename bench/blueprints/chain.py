"""``chain``: start, then 8 transitions to the end state; no workers (pure orchestration)."""

from collections.abc import Awaitable, Callable

from engine import ActionFactory, StateMachineBlueprint

chain = StateMachineBlueprint("bench_chain", api_version="v1", api_endpoint="/jobs/bench_chain")

STEPS = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]


@chain.handler_for("start", is_start=True)
async def start(actions: ActionFactory) -> None:
    actions.transition_to("s1")


def _step(next_state: str) -> Callable[[ActionFactory], Awaitable[None]]:
    async def step(actions: ActionFactory) -> None:
        actions.transition_to(next_state)

    return step


for _here, _next in zip(STEPS, [*STEPS[1:], "finished"], strict=True):
    chain.handler_for(_here, transitions=[_next])(_step(_next))


@chain.handler_for("finished", is_end=True)
async def finished() -> None:
    pass
