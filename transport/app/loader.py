"""Load blueprints from a folder: import every ``*.py`` and register each blueprint it defines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from engine.blueprint import StateMachineBlueprint
from engine.errors import BlueprintError
from engine.registry import BlueprintRegistry


def load_blueprints(folder: str | Path, registry: BlueprintRegistry) -> list[str]:
    """Import the modules of ``folder`` (sorted, ``_*.py`` skipped) and register their blueprints.

    Returns the names registered. A module that fails to import raises ``BlueprintError`` naming
    the file, so a broken blueprint stops start-up instead of vanishing silently.
    """
    names: list[str] = []
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"avtomat_blueprints.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BlueprintError:
            raise
        except Exception as exc:
            raise BlueprintError(path.name, f"could not be imported: {type(exc).__name__}: {exc}") from exc
        for value in vars(module).values():
            if isinstance(value, StateMachineBlueprint) and registry.get(value.name) is not value:
                registry.register(value)
                names.append(value.name)
    return names
