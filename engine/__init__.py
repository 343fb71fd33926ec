"""avtomat's pure core: the blueprint DSL, job state, messages and the step function.

Blueprint authors import from here: ``from engine import StateMachineBlueprint, ActionFactory``.
"""

from engine.actions import ActionFactory
from engine.blueprint import Blueprint, StateMachineBlueprint
from engine.context import ClientInfo, JobContext
from engine.errors import (
    ActionError,
    AvtomatError,
    BlueprintError,
    ConditionSyntaxError,
    ConfigError,
    InjectionError,
)

__all__ = [
    "ActionError",
    "ActionFactory",
    "AvtomatError",
    "Blueprint",
    "BlueprintError",
    "ClientInfo",
    "ConditionSyntaxError",
    "ConfigError",
    "InjectionError",
    "JobContext",
    "StateMachineBlueprint",
]
