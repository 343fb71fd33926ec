"""Blueprints several unit and actor test modules share."""

from __future__ import annotations

from typing import Any

from engine import StateMachineBlueprint


def one_task(name: str, skill: str = "echo", params: dict[str, Any] | None = None) -> StateMachineBlueprint:
    """``start`` dispatches one ``skill`` task (``params``, default ``{"x": 1}``); its success
    leads to ``done``, the end state."""
    bp = StateMachineBlueprint(name)

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task(skill, {"x": 1} if params is None else params, {"success": "done"})

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    return bp


def tiny_blueprint() -> StateMachineBlueprint:
    """``start`` goes straight to ``end``, the end state: a job that needs no worker."""
    bp = StateMachineBlueprint("tiny")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        return None

    return bp
