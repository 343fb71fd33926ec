"""The ``context`` a handler sees, and the root a ``.when()`` condition is evaluated against."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from engine.actions import ActionFactory


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The API client that created the job (never its token)."""

    id: str
    plan: str = "default"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class JobContext:
    """Everything a handler may ask for by name. ``state_history`` is mutable and persisted."""

    job_id: str
    current_state: str
    initial_data: dict[str, Any]
    state_history: dict[str, Any]
    actions: ActionFactory
    client: ClientInfo
    data_stores: SimpleNamespace
    webhook_url: str | None = None
    aggregation_results: dict[str, Any] | None = None
    task_files: Any = None
    task_error: dict[str, Any] | None = None
    child_result: dict[str, Any] | None = None

    def sources(self) -> dict[str, Any]:
        """The names handlers can inject, besides ``context`` and data keys."""
        return {
            "job_id": self.job_id,
            "current_state": self.current_state,
            "initial_data": self.initial_data,
            "state_history": self.state_history,
            "actions": self.actions,
            "client": self.client,
            "data_stores": self.data_stores,
            "webhook_url": self.webhook_url,
            "aggregation_results": self.aggregation_results,
            "task_files": self.task_files,
            "task_error": self.task_error,
            "child_result": self.child_result,
        }

    def condition_root(self) -> dict[str, Any]:
        """``.when("context.initial_data.x == 1")`` resolves ``context`` to this mapping."""
        return {
            "context": {
                "job_id": self.job_id,
                "current_state": self.current_state,
                "initial_data": self.initial_data,
                "state_history": self.state_history,
            }
        }
