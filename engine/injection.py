"""Handler arguments injected by name, resolved from a signature read once at registration."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InjectionError


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class Injector:
    """Builds the keyword arguments of one handler.

    Lookup order for a parameter: the job context (``job_id``, ``initial_data``, ``actions``...),
    the whole ``context``, then ``state_history`` (where worker results land), then
    ``initial_data``. A required parameter found nowhere raises ``InjectionError``; an optional
    one keeps its default. ``**kwargs`` receives the context fields not named explicitly.
    """

    func_name: str
    parameters: tuple[Parameter, ...]
    takes_var_kwargs: bool
    sees_files: bool = False  # ``task_files`` reaches it: by name, through ``context`` or ``**kwargs``

    @classmethod
    def for_function(cls, func: Callable[..., Awaitable[Any]]) -> Injector:
        params: list[Parameter] = []
        var_kwargs = False
        for p in inspect.signature(func).parameters.values():
            if p.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise InjectionError(
                    f"handler {func.__name__!r}: parameter {p.name!r} is positional-only; "
                    "handler arguments are passed by name"
                )
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                var_kwargs = True
            elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
                params.append(Parameter(p.name, p.default is inspect.Parameter.empty))
        sees_files = var_kwargs or any(p.name in ("task_files", "context") for p in params)
        return cls(func.__name__, tuple(params), var_kwargs, sees_files)

    def arguments(self, context: Any, sources: Mapping[str, Any]) -> dict[str, Any]:
        state_history: Mapping[str, Any] = context.state_history
        initial_data: Mapping[str, Any] = context.initial_data
        kwargs: dict[str, Any] = {}
        for param in self.parameters:
            if param.name == "context":
                kwargs["context"] = context
            elif param.name in sources:
                kwargs[param.name] = sources[param.name]
            elif param.name in state_history:
                kwargs[param.name] = state_history[param.name]
            elif param.name in initial_data:
                kwargs[param.name] = initial_data[param.name]
            elif param.required:
                raise InjectionError(
                    f"handler {self.func_name!r} asks for argument {param.name!r}, which is neither a "
                    f"context field ({', '.join(sorted(sources))}) nor a key of state_history or initial_data"
                )
        if self.takes_var_kwargs:
            kwargs.update((name, value) for name, value in sources.items() if name not in kwargs)
        return kwargs
