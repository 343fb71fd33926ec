"""The parent orchestrator, as this orchestrator sees it when it runs as the parent's RXON worker
(Pure Holon mode, ADR 0016). ``transport.parent.RxonParent`` speaks RXON over HTTP;
``transport.memory_parent.MemoryParent`` is the in-memory fake the actor tests use. Both pass
``tests/conformance/test_parent_conformance.py``.

Messages are rxon's models. The adapter signs what it sends with the worker token and checks
the parent's task signatures; the holon never sees either.

Errors: a parent that does not answer raises ``engine.errors.ParentUnavailable`` (retryable);
one that answers with an error status raises ``engine.errors.ParentRefused``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rxon.models import SkillInfo, TaskPayload, TaskResult


class ParentLink(Protocol):
    @property
    def worker_id(self) -> str:
        """The worker id this orchestrator has at its parent."""

    async def register(self, skills: Sequence[SkillInfo]) -> None:
        """Register (again) as a worker having ``skills``; idempotent."""

    async def heartbeat(self, status: str, current_tasks: Sequence[str]) -> list[str]:
        """Report ``status`` (``idle``, ``busy``, ``full``) and the parent tasks running here, which
        keeps their leases; return the ids of those the parent wants stopped (``cancel_task_ids``).
        ``ParentRefused`` with a "not found" message: the parent forgot this worker; register."""

    async def next_task(self, skills: Sequence[str], timeout: float) -> TaskPayload | None:
        """Wait up to ``timeout`` seconds for a task of one of ``skills``; None if none came. The
        task is this worker's from then on (the parent leased it), as long as heartbeats list it."""

    async def send_result(self, result: TaskResult) -> bool:
        """Report a task's result; False when the parent answered "ignored" (late, cancelled,
        stale: it will not change its mind). Resending the same result is harmless."""
