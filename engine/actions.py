"""What a handler decides: exactly one action per call, recorded by ``ActionFactory``."""

from __future__ import annotations

import math
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
    event_transitions: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Branch:
    """One task of a ``dispatch_parallel`` fan-out; unset options fall back to the job's."""

    task_type: str
    params: dict[str, Any]
    priority: float = 0.0
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    max_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class DispatchParallel:
    branches: tuple[Branch, ...]
    aggregate_into: str


@dataclass(frozen=True, slots=True)
class AwaitApproval:
    integration: str
    message: str
    transitions: dict[str, str]
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class RunBlueprint:
    blueprint: str
    initial_data: dict[str, Any]
    transitions: dict[str, str]


Action = Transition | DispatchTask | DispatchParallel | AwaitApproval | RunBlueprint


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

        ``event_transitions`` maps a worker event type to a state: when the task's worker sends
        that event while the job waits on the task, the task is superseded (its result will be
        refused), the event's payload is merged into ``state_history`` and the job moves there.

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
        timeouts = {
            "dispatch_timeout": dispatch_timeout,
            "dispatch_timeout_seconds": dispatch_timeout_seconds,
            "result_timeout": result_timeout,
            "result_timeout_seconds": result_timeout_seconds,
            "timeout_seconds": timeout_seconds,
        }
        self._choose(
            DispatchTask(
                task_type=task_type,
                params=dict(params or {}),
                transitions=dict(transitions),
                priority=_number("dispatch_task", "priority", priority),
                dispatch_timeout=_seconds("dispatch_task", timeouts, "dispatch_timeout", "dispatch_timeout_seconds"),
                result_timeout=_seconds(
                    "dispatch_task", timeouts, "result_timeout", "result_timeout_seconds", "timeout_seconds"
                ),
                max_attempts=_attempts("dispatch_task", max_attempts),
                event_transitions=_event_transitions(event_transitions),
            )
        )

    def dispatch_parallel(self, tasks: list[dict[str, Any]], aggregate_into: str) -> None:
        """Run ``tasks`` at once; when every one has settled, the aggregator of ``aggregate_into`` runs.

        Each task is ``{"type": skill, "params": {...}}`` (upstream) or ``{"task_type": ..., ...}``
        (the seed's README), with optional ``priority``, ``dispatch_timeout``, ``result_timeout``
        (``timeout_seconds`` and the ``*_seconds`` spellings too) and ``max_attempts``.
        """
        if not isinstance(aggregate_into, str) or not aggregate_into:
            raise ActionError(f"dispatch_parallel needs aggregate_into, a state name; got {aggregate_into!r}")
        if not isinstance(tasks, list | tuple) or not tasks:
            raise ActionError(
                "dispatch_parallel needs a non-empty list of tasks, e.g. [{'type': 'skill', 'params': {}}]"
            )
        branches = tuple(_branch(i, task) for i, task in enumerate(tasks))
        self._choose(DispatchParallel(branches, aggregate_into))

    def await_human_approval(
        self,
        integration: str,
        message: str,
        transitions: dict[str, str],
        *,
        timeout: float | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Wait for a person: ``POST /_public/webhooks/approval/{job_id}`` with a ``decision`` among
        ``transitions``' keys moves the job to that target. With ``timeout`` (seconds), no decision
        in time takes ``transitions["timeout"]`` (the job fails if there is none)."""
        if not isinstance(integration, str) or not isinstance(message, str):
            raise ActionError("await_human_approval needs an integration name and a message (strings)")
        _check_transitions("await_human_approval", transitions, "{'approve': 'next', 'reject': 'stop'}")
        given = {"timeout": timeout, "timeout_seconds": timeout_seconds}
        seconds = _seconds("await_human_approval", given, "timeout", "timeout_seconds")
        self._choose(AwaitApproval(integration, message, dict(transitions), seconds))

    def run_blueprint(self, blueprint_name: str, initial_data: dict[str, Any], transitions: dict[str, str]) -> None:
        """Run a child job of blueprint ``blueprint_name``; the job resumes once, when the child
        ends: along ``transitions["success"]`` if it finished, else ``transitions["failure"]``, with
        the child's outcome injectable as ``child_result``."""
        if not isinstance(blueprint_name, str) or not blueprint_name:
            raise ActionError(f"run_blueprint needs a blueprint name, got {blueprint_name!r}")
        if initial_data is not None and not isinstance(initial_data, dict):
            raise ActionError(f"run_blueprint initial_data must be a dict, got {type(initial_data).__name__}")
        _check_transitions("run_blueprint", transitions, "{'success': 'next', 'failure': 'handle_failure'}")
        self._choose(RunBlueprint(blueprint_name, dict(initial_data or {}), dict(transitions)))


_BRANCH_KEYS = frozenset(
    {
        "type",
        "task_type",
        "params",
        "priority",
        "dispatch_timeout",
        "dispatch_timeout_seconds",
        "result_timeout",
        "result_timeout_seconds",
        "timeout_seconds",
        "max_attempts",
    }
)


def _branch(index: int, task: Any) -> Branch:
    """Validate one ``dispatch_parallel`` task dict (either shape) into a ``Branch``."""
    where = f"dispatch_parallel task #{index}"
    if not isinstance(task, dict):
        raise ActionError(f"{where} must be a dict like {{'type': 'skill', 'params': {{}}}}, got {type(task).__name__}")
    unknown = sorted(str(k) for k in task.keys() - _BRANCH_KEYS)
    if unknown:
        raise ActionError(f"{where} has unknown keys {', '.join(unknown)}; known: {', '.join(sorted(_BRANCH_KEYS))}")
    kind, seed_kind = task.get("type"), task.get("task_type")
    if kind is not None and seed_kind is not None and kind != seed_kind:
        raise ActionError(f"{where} names two types, type={kind!r} and task_type={seed_kind!r}")
    kind = kind if kind is not None else seed_kind
    if not isinstance(kind, str) or not kind:
        raise ActionError(f"{where} needs a 'type' (or 'task_type'), a skill name; got {kind!r}")
    params = task.get("params")
    if params is not None and not isinstance(params, dict):
        raise ActionError(f"{where} params must be a dict, got {type(params).__name__}")
    return Branch(
        task_type=kind,
        params=dict(params or {}),
        priority=_number(where, "priority", task.get("priority", 0.0)),
        dispatch_timeout=_seconds(where, task, "dispatch_timeout", "dispatch_timeout_seconds"),
        result_timeout=_seconds(where, task, "result_timeout", "result_timeout_seconds", "timeout_seconds"),
        max_attempts=_attempts(where, task.get("max_attempts")),
    )


def _check_transitions(action: str, transitions: Any, example: str) -> None:
    if not transitions or not isinstance(transitions, dict):
        raise ActionError(f"{action} needs transitions, e.g. {example}")
    bad = [f"{k!r}: {v!r}" for k, v in transitions.items() if not isinstance(k, str) or not isinstance(v, str) or not v]
    if bad:
        raise ActionError(f"{action} transitions map names to state names; not {', '.join(bad)}")


def _number(where: str, name: str, value: Any) -> float:
    """``value`` as a float; a bool, a non-number or a NaN or infinity is an ``ActionError`` (a
    NaN priority would have no place in a queue, an infinite one would outrank aging)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActionError(f"{where}: {name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        number = math.inf
    if not math.isfinite(number):
        raise ActionError(f"{where}: {name} must be finite, got {value!r}")
    return number


def _seconds(where: str, options: dict[str, Any], *names: str) -> float | None:
    """The first of ``names`` set in ``options``, checked to be a positive number of seconds."""
    value = _first(*(options.get(name) for name in names))
    if value is None:
        return None
    seconds = _number(where, names[0], value)
    if seconds <= 0:
        raise ActionError(f"{where}: {names[0]} must be positive, got {value!r}")
    return seconds


def _attempts(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ActionError(f"{where}: max_attempts must be a positive integer, got {value!r}")
    return value


def _event_transitions(value: Any) -> dict[str, str] | None:
    """``event_transitions`` as given (None or empty: none), checked: event type -> state name."""
    if not value:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise ActionError(f"dispatch_task: event_transitions must map event types to states, got {value!r}")
    for event_type, state in value.items():
        if not isinstance(state, str) or not state:
            raise ActionError(f"dispatch_task: event_transitions[{event_type!r}] must name a state, got {state!r}")
    return dict(value)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _describe(action: Action) -> str:
    if isinstance(action, Transition):
        return f"transition_to({action.target!r})"
    if isinstance(action, DispatchParallel):
        return f"dispatch_parallel(aggregate_into={action.aggregate_into!r})"
    if isinstance(action, AwaitApproval):
        return f"await_human_approval({action.integration!r})"
    if isinstance(action, RunBlueprint):
        return f"run_blueprint({action.blueprint!r})"
    return f"dispatch_task({action.task_type!r})"
