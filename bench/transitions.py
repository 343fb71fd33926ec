"""``python -m bench.transitions``: the orchestrator CPU a transition costs, apart from the job's
fixed costs (HTTP, store and broker round trips).

Runs jobs of two chain lengths (8 and 80 transitions) through the job actor on the in-memory
store and broker, in this process, and reports CPU per job of each and the difference per extra
transition. A job's transitions run in one activation (one load, one commit, whatever its
length), so the marginal figure is what a transition costs on either runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from actors.job import JobActor
from engine import ActionFactory, StateMachineBlueprint
from engine.job import FINISHED, JobState
from engine.messages import Start, envelope
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from transport.memory import MemoryBroker, MemoryStore


def chain(transitions: int) -> StateMachineBlueprint:
    """start -> s1 -> ... -> finished: ``transitions`` transitions in all."""
    bp = StateMachineBlueprint(f"chain_{transitions}")
    states = ["start", *(f"s{i}" for i in range(1, transitions)), "finished"]
    for here, next_state in itertools.pairwise(states):

        async def step(actions: ActionFactory, to: str = next_state) -> None:
            actions.transition_to(to)

        bp.handler_for(here, is_start=here == "start", transitions=[next_state])(step)

    async def finished() -> None:
        pass

    bp.handler_for("finished", is_end=True)(finished)
    return bp


async def cpu_per_job(transitions: int, jobs: int) -> float:
    """CPU seconds per job of ``jobs`` jobs of a ``transitions``-long chain."""
    bp = chain(transitions)
    registry = BlueprintRegistry()
    registry.register(bp)
    store = MemoryStore()
    actor = JobActor(registry, store, MemoryBroker(), StepPolicy(), time.time)
    for i in range(jobs):
        state = JobState(
            id=f"job-{i}",
            blueprint=bp.name,
            client_id="c",
            current_state="start",
            initial_data={},
            created_at=0.0,
            updated_at=0.0,
            max_transitions=transitions + 1,
        )
        await store.create_job(state)
    started = time.process_time()
    for i in range(jobs):
        await actor.handle(envelope(f"job-{i}", Start(), 0.0))
    spent = time.process_time() - started
    last = await store.load_job(f"job-{jobs - 1}")
    if last is None or last.status != FINISHED:
        raise RuntimeError(f"a {transitions}-transition job did not finish: {last}")
    return spent / jobs


async def main(jobs: int) -> None:
    short, long = 8, 80
    for _ in range(2):  # the first round warms up
        a, b = await cpu_per_job(short, jobs), await cpu_per_job(long, jobs)
    print(f"{short} transitions: {a * 1e3:.3f} ms CPU per job; {long} transitions: {b * 1e3:.3f} ms")
    print(f"per extra transition: {(b - a) / (long - short) * 1e3:.4f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.transitions", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    asyncio.run(main(parser.parse_args().jobs))
