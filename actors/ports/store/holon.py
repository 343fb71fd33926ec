"""The parent orchestrator's tasks this orchestrator runs (Pure Holon mode, ADR 0016).

One record per task taken from the parent and not yet answered: the task id and when it was
accepted. Every holon process of a deployment shares them, so each heartbeats the same list to
the parent (which keeps the tasks' leases) and counts the same load; a restarted holon finds its
tasks again. Not indexed by anything else: there are at most ``PARENT_MAX_CONCURRENT_TASKS``.
"""

from __future__ import annotations

from typing import Protocol


class HolonTasks(Protocol):
    async def add_holon_task(self, task_id: str, accepted_at: float) -> None:
        """Record ``task_id`` as running here; a second add keeps the first ``accepted_at``."""

    async def remove_holon_task(self, task_id: str) -> None:
        """Forget ``task_id`` (answered, or given up); idempotent."""

    async def holon_tasks(self) -> dict[str, float]:
        """Every recorded task id, with when it was accepted."""
