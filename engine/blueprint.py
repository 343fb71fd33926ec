"""The blueprint DSL: a state machine whose states are async handlers.

Compatible with avtomatika's seed API (``StateMachineBlueprint``, ``handler_for``, ``.when()``,
``aggregator_for``) and with upstream's newer names (``Blueprint``, ``handler``, ``aggregator``).
Everything that can be checked is checked when the blueprint is defined or registered, so a
malformed blueprint never reaches a running job.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.conditions import Condition, parse_condition
from engine.data_stores import data_stores_namespace
from engine.errors import BlueprintError, ConditionSyntaxError, InjectionError
from engine.graph import build_graph
from engine.injection import Injector
from engine.targets import AGGREGATE, literal_aggregate_targets, literal_targets


class HandlerFunc(Protocol):
    __name__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Handler:
    """One registered handler: its function, how to call it, and its optional condition."""

    state: str
    func: Callable[..., Awaitable[Any]]
    injector: Injector
    condition: Condition | None = None
    targets: frozenset[str] = frozenset()
    aggregate_targets: frozenset[str] = frozenset()


@dataclass(slots=True)
class StateSpec:
    name: str
    conditional: list[Handler] = field(default_factory=list)
    default: Handler | None = None
    aggregator: Handler | None = None
    is_start: bool = False
    is_end: bool = False

    def handlers(self) -> list[Handler]:
        found = [*self.conditional, self.default, self.aggregator]
        return [h for h in found if h is not None]


class _Registration:
    """What ``handler_for(...)`` returns: a decorator that also offers ``.when(expr)``."""

    def __init__(self, bp: StateMachineBlueprint, state: str | None, flags: dict[str, Any]) -> None:
        self._bp, self._state, self._flags = bp, state, flags

    def when(self, expression: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        return _Registration(self._bp, self._state, {**self._flags, "condition": expression})

    def __call__(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        self._bp._add(self._state or func.__name__, func, **self._flags)
        return func


class StateMachineBlueprint:
    """A named state machine. Handlers are registered with ``@bp.handler_for(state)``."""

    def __init__(
        self,
        name: str,
        api_version: str | None = None,
        api_endpoint: str | None = None,
        data_stores: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise BlueprintError(str(name), "a blueprint needs a non-empty name")
        self.name = name
        self.api_version = api_version
        self.api_endpoint = api_endpoint
        self.data_stores = data_stores_namespace(name, data_stores)
        self.states: dict[str, StateSpec] = {}

    # -- registration -------------------------------------------------------------------------

    def handler_for(
        self,
        state: str | None = None,
        is_start: bool = False,
        is_end: bool = False,
        *,
        condition: str | None = None,
        transitions: list[str] | tuple[str, ...] | None = None,
    ) -> _Registration:
        """Register the handler of ``state``; ``transitions`` declares targets chosen at run time."""
        flags: dict[str, Any] = {"is_start": is_start, "is_end": is_end, "declared": tuple(transitions or ())}
        if condition is not None:
            flags["condition"] = condition
        return _Registration(self, state, flags)

    def handler(self, state: Any = None, /, **kwargs: Any) -> Any:
        """Upstream's name: ``@bp.handler``, ``@bp.handler("state")``, ``@bp.handler(is_start=True)``."""
        if callable(state):
            return self.handler_for()(state)
        return self.handler_for(state, **kwargs)

    def aggregator_for(self, state: str, *, transitions: list[str] | tuple[str, ...] | None = None) -> _Registration:
        """Register the fan-in handler of ``state``: it runs once every task of a
        ``dispatch_parallel(..., aggregate_into=state)`` has settled, with ``aggregation_results``;
        ``transitions`` declares targets it chooses at run time, as for ``handler_for``."""
        return _Registration(self, state, {"aggregator": True, "declared": tuple(transitions or ())})

    def aggregator(self, state: Any = None, /) -> Any:
        if callable(state):
            return self.aggregator_for(state.__name__)(state)
        return self.aggregator_for(state)

    def _add(
        self,
        state: str,
        func: Callable[..., Awaitable[Any]],
        *,
        is_start: bool = False,
        is_end: bool = False,
        condition: str | None = None,
        aggregator: bool = False,
        declared: tuple[str, ...] = (),
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise BlueprintError(self.name, f"handler {func.__name__!r} must be an async function", state)
        try:
            injector = Injector.for_function(func)
        except InjectionError as exc:
            raise BlueprintError(self.name, str(exc), state) from exc
        spec = self.states.setdefault(state, StateSpec(state))
        spec.is_start |= is_start
        spec.is_end |= is_end
        handler = Handler(
            state=state,
            func=func,
            injector=injector,
            condition=self._parse(state, condition),
            targets=literal_targets(func) | frozenset(declared),
            aggregate_targets=literal_aggregate_targets(func),
        )
        if aggregator:
            spec.aggregator = handler
        elif handler.condition is not None:
            spec.conditional.append(handler)
        elif spec.default is not None:
            raise BlueprintError(self.name, "has two default handlers; give one a .when() condition", state)
        else:
            spec.default = handler

    def _parse(self, state: str, condition: str | None) -> Condition | None:
        if condition is None:
            return None
        try:
            return parse_condition(condition)
        except ConditionSyntaxError as exc:
            raise BlueprintError(self.name, f"bad .when() condition: {exc}", state) from exc

    # -- queries ------------------------------------------------------------------------------

    @property
    def start_state(self) -> str:
        for spec in self.states.values():
            if spec.is_start:
                return spec.name
        raise BlueprintError(self.name, "has no start state (is_start=True)")

    @property
    def end_states(self) -> frozenset[str]:
        return frozenset(s.name for s in self.states.values() if s.is_end)

    def find_handler(self, state: str, root: Mapping[str, Any]) -> Handler | None:
        """The first conditional handler whose condition matches, then the default, then the aggregator."""
        spec = self.states.get(state)
        if spec is None:
            return None
        for handler in spec.conditional:
            if handler.condition is not None and handler.condition.matches(root):
                return handler
        return spec.default or spec.aggregator

    def validate(self) -> None:
        """Check the graph (``engine.graph``): one start state, at least one end state, no target
        without a handler, an aggregator handler in every ``aggregate_into`` state, and every state
        reachable from the start state.

        Reachability follows literal targets and those declared with ``handler_for(...,
        transitions=[...])``; it is not checked when a handler's source cannot be read (a REPL,
        generated code), as that handler's targets are unknown.
        """
        starts = [s.name for s in self.states.values() if s.is_start]
        if len(starts) != 1:
            found = ", ".join(repr(s) for s in starts) or "none"
            raise BlueprintError(self.name, f"needs exactly one start state (is_start=True); found {found}")
        if not self.end_states:
            raise BlueprintError(self.name, "needs at least one end state (is_end=True)")
        for spec in self.states.values():
            if spec.is_start and spec.is_end:
                raise BlueprintError(self.name, "a state cannot be both start and end", spec.name)
        graph = build_graph(self)
        for edge in graph.dangling():
            raise BlueprintError(self.name, f"transitions to {edge.target!r}, which has no handler", edge.source)
        for edge in graph.edges:
            if edge.kind == AGGREGATE and self.states[edge.target].aggregator is None:
                raise BlueprintError(
                    self.name,
                    f"dispatch_parallel aggregates into {edge.target!r}, which has no @aggregator_for handler",
                    edge.source,
                )
        unreachable = graph.unreachable()
        if unreachable and not graph.unread:
            names = ", ".join(repr(name) for name in unreachable)
            raise BlueprintError(
                self.name,
                f"no path from the start state {graph.start!r} reaches {names}; if a handler moves there "
                "by a name computed at run time, declare it: handler_for(..., transitions=[...])",
            )


Blueprint = StateMachineBlueprint
