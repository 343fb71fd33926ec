"""The benchmark blueprints in upstream avtomatika's API, equivalent to ``bench/blueprints/``.

Imported by ``app.py`` under the upstream venv; imports nothing of avtomat. Upstream-specific
constraints each handler here respects:

- upstream finds transitions by parsing handler source, so every target is a string literal
  (``go_to(state)`` with a variable would make the next state "unreachable" and fail validation);
- a job's status is ``finished`` only if its end state is named ``finished`` (any other end
  state gives ``failed``);
- an end-state handler's return annotation becomes the blueprint's output schema (``-> None``
  would fail every job), so handlers carry no annotations, which also keeps ``initial_data``
  from gaining an input schema that avtomat's blueprints do not have;
- the compact job view shows ``state_history`` only through ``result``, which upstream takes
  from ``state_history[<end state>]``: the end handlers store a copy of the history there, so
  ``result`` is the whole history, as in avtomat's view (``result.dispatched_at`` etc.).
"""

import time

from avtomatika import Blueprint

BRANCHES = 10  # bench/blueprints/fanout.py
LONG_DEFAULT_SECONDS = 60.0  # bench/blueprints/long.py


def _expose(state_history):
    """Make the job's ``result`` the whole history (see the module docstring)."""
    state_history["finished"] = {k: v for k, v in state_history.items() if k != "finished"}


# chain: start, then 8 transitions to the end state; no workers.
chain = Blueprint("bench_chain", api_endpoint="/jobs/bench_chain", api_version="v1")


@chain.handler("start", is_start=True)
async def chain_start(actions):
    actions.go_to("s1")


@chain.handler("s1")
async def chain_s1(actions):
    actions.go_to("s2")


@chain.handler("s2")
async def chain_s2(actions):
    actions.go_to("s3")


@chain.handler("s3")
async def chain_s3(actions):
    actions.go_to("s4")


@chain.handler("s4")
async def chain_s4(actions):
    actions.go_to("s5")


@chain.handler("s5")
async def chain_s5(actions):
    actions.go_to("s6")


@chain.handler("s6")
async def chain_s6(actions):
    actions.go_to("s7")


@chain.handler("s7")
async def chain_s7(actions):
    actions.go_to("finished")


@chain.handler("finished", is_end=True)
async def chain_finished(state_history):
    _expose(state_history)


# echo: one task to an SDK worker that answers at once, then the end state.
echo = Blueprint("bench_echo", api_endpoint="/jobs/bench_echo", api_version="v1")


@echo.handler("start", is_start=True)
async def echo_start(initial_data, state_history, actions):
    state_history["dispatched_at"] = time.time()
    actions.dispatch_task(
        task_type="echo",
        params={"n": initial_data.get("n", 0)},
        transitions={"success": "finished", "failure": "failed"},
    )


@echo.handler("finished", is_end=True)
async def echo_finished(state_history):
    _expose(state_history)


@echo.handler("failed", is_end=True)
async def echo_failed(state_history):
    _expose(state_history)


# fanout: 10 echo tasks in parallel, an aggregator, then the end state.
fanout = Blueprint("bench_fanout", api_endpoint="/jobs/bench_fanout", api_version="v1")


@fanout.handler("start", is_start=True)
async def fanout_start(actions):
    actions.dispatch_parallel(
        tasks=[{"type": "echo", "params": {"n": i}} for i in range(BRANCHES)],
        aggregate_into="gather",
    )


@fanout.aggregator("gather")
async def fanout_gather(aggregation_results, state_history, actions):
    # upstream hands the aggregator {task_id: the worker's whole TaskResult}, serialized without
    # default values: a success has no "status" key at all
    state_history["ok"] = sum(1 for r in aggregation_results.values() if r.get("status", "success") == "success")
    actions.go_to("finished")


@fanout.handler("finished", is_end=True)
async def fanout_finished(state_history):
    _expose(state_history)


# long: one task that sleeps initial_data["seconds"] on an SDK worker, then the end state.
# Unlike bench/blueprints/long.py it sets no result_timeout_seconds: upstream then sends the task
# a float ``deadline`` that the SDK's rxon 1.0b17 refuses to decode (``int | None``), so the task
# is popped and lost without a word. Without it the task gets WORKER_TIMEOUT_SECONDS (300 s).
long = Blueprint("bench_long", api_endpoint="/jobs/bench_long", api_version="v1")


@long.handler("start", is_start=True)
async def long_start(initial_data, state_history, actions):
    seconds = float(initial_data.get("seconds", LONG_DEFAULT_SECONDS))
    state_history["dispatched_at"] = time.time()
    actions.dispatch_task(
        task_type="sleep",
        params={"seconds": seconds, "n": initial_data.get("n", 0)},
        transitions={"success": "finished", "failure": "failed"},
    )


@long.handler("finished", is_end=True)
async def long_finished(state_history):
    _expose(state_history)


@long.handler("failed", is_end=True)
async def long_failed(state_history):
    _expose(state_history)


ALL = (chain, echo, fanout, long)
