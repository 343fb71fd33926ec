"""Find the transition targets a handler names literally, by reading its source once.

Only string literals are collected (``transition_to("x")``, ``go_to("x")``,
``transitions={"success": "x"}``, ``aggregate_into="x"``); targets computed at run time are
declared with ``handler_for(..., transitions=[...])`` instead of being guessed.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

_TRANSITION_CALLS = frozenset({"transition_to", "go_to"})
_TRANSITION_MAPS = frozenset({"transitions"})
_TARGET_KEYWORDS = frozenset({"aggregate_into"})


def literal_targets(func: Callable[..., Any]) -> frozenset[str]:
    found: set[str] = set()
    for call in _calls(func):
        found |= _targets_of_call(call)
    return frozenset(found)


def literal_aggregate_targets(func: Callable[..., Any]) -> frozenset[str]:
    """The literal ``aggregate_into="x"`` states: each must have an aggregator handler."""
    found: set[str] = set()
    for call in _calls(func):
        for kw in call.keywords:
            if kw.arg in _TARGET_KEYWORDS:
                found |= _strings(kw.value)
    return frozenset(found)


def _calls(func: Callable[..., Any]) -> list[ast.Call]:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return []  # no source (REPL, generated code): nothing to check statically
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _targets_of_call(call: ast.Call) -> set[str]:
    found: set[str] = set()
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name in _TRANSITION_CALLS and call.args:
        found |= _strings(call.args[0])
    if name == "dispatch_task" and len(call.args) >= 3 and isinstance(call.args[2], ast.Dict):
        for value in call.args[2].values:
            found |= _strings(value)
    for kw in call.keywords:
        if kw.arg in _TARGET_KEYWORDS or (kw.arg == "state" and name in _TRANSITION_CALLS):
            found |= _strings(kw.value)
        elif kw.arg in _TRANSITION_MAPS and isinstance(kw.value, ast.Dict):
            for value in kw.value.values:
                found |= _strings(value)
    return found


def _strings(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set()
