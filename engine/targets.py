"""Find the transition targets a handler names literally, by reading its source once.

Only string literals are collected, each with the kind of call that named it:

- ``transition_to("x")`` / ``go_to("x")``: kind ``transition``;
- ``dispatch_task(..., transitions={"success": "x"})``: ``task``, labelled by the task status;
  its ``event_transitions={"preview": "x"}``: ``task`` too, labelled ``event: preview``;
- ``await_human_approval(..., transitions={"approved": "x"})``: ``approval``, by the decision;
- ``run_blueprint("child", ..., transitions={"success": "x"})``: ``child``, by the child
  blueprint's name and outcome (``child: success``);
- ``dispatch_parallel(..., aggregate_into="x")``: ``aggregate``, the fan-in state;
- ``transitions={...: "x"}`` or ``aggregate_into="x"`` given to any other call: ``transition``
  (labelled by the key) and ``aggregate``.

Targets computed at run time are declared with ``handler_for(..., transitions=[...])`` instead of
being guessed (kind ``declared``, added by ``engine.graph``). This module is the one place
handler source is parsed: ``Handler.targets`` and the blueprint graph both come from it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

TRANSITION = "transition"
TASK = "task"
APPROVAL = "approval"
CHILD = "child"
AGGREGATE = "aggregate"
DECLARED = "declared"

_TRANSITION_CALLS = frozenset({"transition_to", "go_to"})
# The calls whose third positional argument (or ``transitions=``) maps an outcome to a state.
_TRANSITION_MAPS = {"dispatch_task": TASK, "await_human_approval": APPROVAL, "run_blueprint": CHILD}


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A state a handler names literally; ``label`` is the outcome that leads there (the task
    status, the approval decision, ``child: outcome``, a ``transitions`` key), else empty."""

    state: str
    kind: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class SourceTargets:
    """The literal targets of one handler. ``readable`` is False when its source could not be read
    (defined in a REPL or generated): then ``targets`` is empty and proves nothing."""

    targets: frozenset[Target]
    readable: bool


def source_targets(func: Callable[..., Any]) -> SourceTargets:
    calls = _calls(func)
    if calls is None:
        return SourceTargets(frozenset(), readable=False)
    return SourceTargets(frozenset(t for call in calls for t in _targets_of_call(call)), readable=True)


def literal_targets(func: Callable[..., Any]) -> frozenset[str]:
    """Every state the handler names literally, whatever the call."""
    return frozenset(t.state for t in source_targets(func).targets)


def literal_aggregate_targets(func: Callable[..., Any]) -> frozenset[str]:
    """The literal ``aggregate_into="x"`` states: each must have an aggregator handler."""
    return frozenset(t.state for t in source_targets(func).targets if t.kind == AGGREGATE)


def _calls(func: Callable[..., Any]) -> list[ast.Call] | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None  # no source (REPL, generated code): nothing to check statically
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _targets_of_call(call: ast.Call) -> Iterator[Target]:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg is not None}
    if name in _TRANSITION_CALLS:
        yield from (Target(state, TRANSITION) for state in _strings(_argument(call, 0, "state")))
    aggregate = _argument(call, 1, "aggregate_into") if name == "dispatch_parallel" else keywords.get("aggregate_into")
    yield from (Target(state, AGGREGATE) for state in _strings(aggregate))
    kind = _TRANSITION_MAPS.get(name, TRANSITION)
    mapping = _argument(call, 2, "transitions") if name in _TRANSITION_MAPS else keywords.get("transitions")
    child = sorted(_strings(_argument(call, 0, "blueprint_name"))) if kind == CHILD else []
    yield from _mapped(mapping, kind, child)
    if name == "dispatch_task":
        yield from _mapped(keywords.get("event_transitions"), TASK, ["event"])


def _mapped(mapping: ast.expr | None, kind: str, prefix: list[str]) -> Iterator[Target]:
    """The targets of a literal ``{outcome: state}`` dict, labelled ``prefix: outcome``."""
    if not isinstance(mapping, ast.Dict):
        return
    for key, value in zip(mapping.keys, mapping.values, strict=True):
        label = ": ".join([*prefix, *_strings(key)])
        yield from (Target(state, kind, label) for state in _strings(value))


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument at ``position``, else the one passed as ``keyword=``."""
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return call.args[position]
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


def _strings(node: ast.expr | None) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set()
