"""What a handler decides: exactly one action per call, recorded by ``ActionFactory``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import ActionError


@dataclass(frozen=True, slots=True)
class Transition:
    target: str


@dataclass(frozen=True, slots=True)
class DispatchTask:
    task_type: str
    params: dict[str, Any]
    transitions: dict[str, str]
    priority: float = 0.0
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    max_attempts: int | None = None


Action = Transition | DispatchTask


@dataclass(slots=True)
class ActionFactory:
    """The ``actions`` object handlers receive. The first action wins; a second is an error."""

    chosen: Action | None = field(default=None)

    def _choose(self, action: Action) -> None:
        if self.chosen is not None:
            raise ActionError(
                f"a handler may choose only one action; it already chose {_describe(self.chosen)} "
                f"and then tried {_describe(action)}"
            )
        self.chosen = action

    def transition_to(self, state: str) -> None:
        """Move the job to ``state``; runs in the same activation, without a broker round trip."""
        if not isinstance(state, str) or not state:
            raise ActionError(f"transition_to needs a state name, got {state!r}")
        self._choose(Transition(state))

    go_to = transition_to

    def dispatch_task(
        self,
        task_type: str,
        params: dict[str, Any] | None = None,
        transitions: dict[str, str] | None = None,
        *,
        priority: float = 0.0,
        dispatch_timeout: float | None = None,
        result_timeout: float | None = None,
        dispatch_timeout_seconds: float | None = None,
        result_timeout_seconds: float | None = None,
        max_attempts: int | None = None,
        skill_version: str | None = None,
        skill_type: str | None = None,
        dispatch_strategy: str = "default",
        resource_requirements: dict[str, Any] | None = None,
        event_transitions: dict[str, str] | None = None,
        timeout_seconds: float | None = None,
        max_cost: float | None = None,
        resource_hint: str | None = None,
    ) -> None:
        """Hand ``params`` to a worker with skill ``task_type``; its result status picks the next state.

        Upstream's routing options (``skill_version`` through ``resource_hint``) are accepted so
        its blueprints run, and not yet used for routing; ``timeout_seconds`` is an alias of
        ``result_timeout``.
        """
        if not isinstance(task_type, str) or not task_type:
            raise ActionError(f"dispatch_task needs a task_type, got {task_type!r}")
        if params is not None and not isinstance(params, dict):
            raise ActionError(f"dispatch_task params must be a dict, got {type(params).__name__}")
        if not transitions or not isinstance(transitions, dict):
            raise ActionError("dispatch_task needs transitions, e.g. {'success': 'next_state'}")
        self._choose(
            DispatchTask(
                task_type=task_type,
                params=dict(params or {}),
                transitions=dict(transitions),
                priority=float(priority),
                dispatch_timeout=_first(dispatch_timeout, dispatch_timeout_seconds),
                result_timeout=_first(result_timeout, result_timeout_seconds, timeout_seconds),
                max_attempts=max_attempts,
            )
        )

    def dispatch_parallel(self, tasks: list[dict[str, Any]], aggregate_into: str) -> None:
        raise ActionError("dispatch_parallel is not available yet: fan-out arrives with the distributed runtime")

    def await_human_approval(self, integration: str, message: str, transitions: dict[str, str]) -> None:
        raise ActionError("await_human_approval is not available yet")

    def run_blueprint(self, blueprint_name: str, initial_data: dict[str, Any], transitions: dict[str, str]) -> None:
        raise ActionError("run_blueprint is not available yet")


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _describe(action: Action) -> str:
    if isinstance(action, Transition):
        return f"transition_to({action.target!r})"
    return f"dispatch_task({action.task_type!r})"
