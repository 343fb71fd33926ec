"""The set of registered blueprints, found by name or by client API endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from engine.blueprint import StateMachineBlueprint
from engine.errors import BlueprintError


class BlueprintRegistry:
    """Blueprints are validated on registration; names and endpoints must be unique."""

    def __init__(self) -> None:
        self._by_name: dict[str, StateMachineBlueprint] = {}
        self._by_path: dict[str, StateMachineBlueprint] = {}

    def register(self, bp: StateMachineBlueprint) -> None:
        bp.validate()
        if bp.name in self._by_name:
            raise BlueprintError(bp.name, "a blueprint with this name is already registered")
        path = self.path_of(bp)
        if path in self._by_path:
            raise BlueprintError(bp.name, f"endpoint {path} is already used by {self._by_path[path].name!r}")
        self._by_name[bp.name] = bp
        self._by_path[path] = bp

    @staticmethod
    def path_of(bp: StateMachineBlueprint) -> str:
        """The client API path that creates jobs: ``/api/{api_version}{api_endpoint}``.

        Defaults: version ``v1``, endpoint ``/jobs/{name}``.
        """
        endpoint = bp.api_endpoint or f"/jobs/{bp.name}"
        if not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        return f"/api/{bp.api_version or 'v1'}{endpoint}"

    def get(self, name: str) -> StateMachineBlueprint | None:
        return self._by_name.get(name)

    def by_path(self, path: str) -> StateMachineBlueprint | None:
        return self._by_path.get(path)

    def __iter__(self) -> Iterator[StateMachineBlueprint]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
