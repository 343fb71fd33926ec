"""Handler arguments are injected by name from the job context, state_history and initial_data."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from engine import ActionFactory, ClientInfo, InjectionError, JobContext
from engine.injection import Injector


def _context(initial_data: dict[str, Any] | None = None, state_history: dict[str, Any] | None = None) -> JobContext:
    return JobContext(
        job_id="job-1",
        current_state="work",
        initial_data=initial_data if initial_data is not None else {},
        state_history=state_history if state_history is not None else {},
        actions=ActionFactory(),
        client=ClientInfo("client-1", plan="pro"),
        data_stores=SimpleNamespace(cache={}),
        webhook_url="http://hook.example/x",
    )


def _inject(func: Any, ctx: JobContext) -> dict[str, Any]:
    return Injector.for_function(func).arguments(ctx, ctx.sources())


def test_context_fields_are_injected_by_name() -> None:
    async def handler(
        job_id: Any, initial_data: Any, state_history: Any, actions: Any, client: Any, data_stores: Any
    ) -> None: ...

    ctx = _context({"a": 1}, {"b": 2})
    kwargs = _inject(handler, ctx)

    assert kwargs["job_id"] == "job-1"
    assert kwargs["initial_data"] is ctx.initial_data
    assert kwargs["state_history"] is ctx.state_history
    assert kwargs["actions"] is ctx.actions
    assert kwargs["client"] is ctx.client
    assert kwargs["client"].plan == "pro"
    assert kwargs["data_stores"] is ctx.data_stores


def test_context_parameter_receives_the_whole_context() -> None:
    async def handler(context: Any) -> None: ...

    ctx = _context()

    assert _inject(handler, ctx) == {"context": ctx}


def test_other_context_fields_are_injectable() -> None:
    async def handler(current_state: Any, webhook_url: Any, task_files: Any, aggregation_results: Any) -> None: ...

    kwargs = _inject(handler, _context())

    assert kwargs == {
        "current_state": "work",
        "webhook_url": "http://hook.example/x",
        "task_files": None,
        "aggregation_results": None,
    }


def test_key_from_state_history_is_injected() -> None:
    async def handler(echo: Any) -> None: ...

    assert _inject(handler, _context(state_history={"echo": {"x": 1}})) == {"echo": {"x": 1}}


def test_key_from_initial_data_is_injected() -> None:
    async def handler(video_url: Any) -> None: ...

    assert _inject(handler, _context(initial_data={"video_url": "s3://v"})) == {"video_url": "s3://v"}


def test_state_history_takes_precedence_over_initial_data() -> None:
    async def handler(size: Any) -> None: ...

    ctx = _context(initial_data={"size": "from input"}, state_history={"size": "from worker"})

    assert _inject(handler, ctx) == {"size": "from worker"}


def test_context_fields_take_precedence_over_data_keys() -> None:
    async def handler(job_id: Any) -> None: ...

    ctx = _context(initial_data={"job_id": "spoofed"}, state_history={"job_id": "spoofed"})

    assert _inject(handler, ctx) == {"job_id": "job-1"}


def test_default_is_kept_when_the_name_is_found_nowhere() -> None:
    async def handler(actions: Any, retries: int = 3) -> None: ...

    kwargs = _inject(handler, _context())

    assert "retries" not in kwargs  # the call uses the function's own default


def test_default_is_overridden_when_the_name_is_found() -> None:
    async def handler(retries: int = 3) -> None: ...

    assert _inject(handler, _context(initial_data={"retries": 7})) == {"retries": 7}


def test_missing_required_argument_raises_injection_error_naming_it() -> None:
    async def my_handler(actions: Any, nonexistent_key: Any) -> None: ...

    with pytest.raises(InjectionError) as caught:
        _inject(my_handler, _context({"other": 1}, {"another": 2}))

    assert "'nonexistent_key'" in str(caught.value)
    assert "'my_handler'" in str(caught.value)


def test_var_kwargs_handler_still_gets_its_named_arguments() -> None:
    async def handler(actions: Any, echo: Any, **kwargs: Any) -> None: ...

    ctx = _context(state_history={"echo": 1})
    kwargs = _inject(handler, ctx)

    assert kwargs["actions"] is ctx.actions
    assert kwargs["echo"] == 1
    assert "kwargs" not in kwargs  # **kwargs is not a parameter to look up by name


def test_var_positional_is_not_looked_up() -> None:
    async def handler(actions: Any, *args: Any) -> None: ...

    ctx = _context()

    assert _inject(handler, ctx) == {"actions": ctx.actions}


async def test_injected_arguments_call_the_handler() -> None:
    seen: dict[str, Any] = {}

    async def handler(job_id: str, echo: int, actions: ActionFactory, mode: str = "default") -> None:
        seen.update(job_id=job_id, echo=echo, mode=mode)
        actions.transition_to("next")

    ctx = _context(state_history={"echo": 5})
    await handler(**_inject(handler, ctx))

    assert seen == {"job_id": "job-1", "echo": 5, "mode": "default"}
    assert ctx.actions.chosen is not None


def test_var_kwargs_receives_the_context_fields_not_named() -> None:
    async def handler(actions: Any, **rest: Any) -> None: ...

    ctx = _context()
    kwargs = _inject(handler, ctx)

    assert kwargs["actions"] is ctx.actions
    assert kwargs["job_id"] == "job-1"
    assert kwargs["state_history"] is ctx.state_history


def test_positional_only_parameters_are_rejected_when_the_handler_is_read() -> None:
    async def handler(actions: Any, /) -> None: ...

    with pytest.raises(InjectionError, match="'actions' is positional-only"):
        Injector.for_function(handler)
