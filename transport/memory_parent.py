"""A parent orchestrator in memory: ``ParentLink`` for tests, driven from the parent's side.

It keeps the semantics the holon relies on, as ``transport.parent.RxonParent`` sees them at an
avtomat gateway (the conformance suite runs both): a task is handed out once and leased to the
worker; a heartbeat is refused as "not found" until the worker registers (and after ``forget``),
and answers with the listed tasks that were cancelled; the first result of a leased task is
accepted, and any result of a cancelled or unknown task is "ignored" (False). A resend of an
accepted result is accepted again, as the gateway does while the job waits on that task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from rxon.models import SkillInfo, TaskPayload, TaskResult

from engine.errors import ParentRefused, ParentUnavailable


@dataclass
class Beat:
    status: str
    current_tasks: list[str]


@dataclass
class MemoryParent:
    worker_id: str = "holon"
    registrations: list[list[SkillInfo]] = field(default_factory=list)
    heartbeats: list[Beat] = field(default_factory=list)
    results: list[TaskResult] = field(default_factory=list)  # every result sent, accepted or not
    away: bool = False  # set: every call raises ParentUnavailable, as an unreachable parent does
    unanswered: int = 0  # calls made while away
    _queued: list[TaskPayload] = field(default_factory=list)
    _leased: dict[str, TaskPayload] = field(default_factory=dict)
    _cancelled: set[str] = field(default_factory=set)
    _registered: bool = False
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    # -- the parent's side ----------------------------------------------------------------

    async def offer(self, task: TaskPayload) -> None:
        """Queue ``task`` for the worker."""
        self._queued.append(task)
        async with self._changed:
            self._changed.notify_all()

    def cancel(self, task_id: str) -> None:
        """The parent no longer wants ``task_id``: heartbeats listing it say so."""
        self._cancelled.add(task_id)

    def forget(self) -> None:
        """The parent lost the registration (it expired): heartbeats are refused until the next."""
        self._registered = False

    @property
    def queued(self) -> list[TaskPayload]:
        return list(self._queued)

    def accepted(self, task_id: str) -> list[TaskResult]:
        return [r for r in self.results if r.task_id == task_id]

    # -- ParentLink -----------------------------------------------------------------------

    async def register(self, skills: Sequence[SkillInfo]) -> None:
        self._check()
        self.registrations.append(list(skills))
        self._registered = True

    async def heartbeat(self, status: str, current_tasks: Sequence[str]) -> list[str]:
        self._check()
        if not self._registered:
            raise ParentRefused(404, f"worker {self.worker_id} not found; register again")
        self.heartbeats.append(Beat(status, list(current_tasks)))
        return [task_id for task_id in current_tasks if task_id in self._cancelled]

    async def next_task(self, skills: Sequence[str], timeout: float) -> TaskPayload | None:
        self._check()

        def ready() -> bool:
            return any(task.type in skills for task in self._queued)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        if not ready():
            return None
        task = next(task for task in self._queued if task.type in skills)
        self._queued.remove(task)
        self._leased[task.task_id] = task
        return task

    async def send_result(self, result: TaskResult) -> bool:
        self._check()
        self.results.append(result)
        task = self._leased.get(result.task_id)
        return task is not None and task.job_id == result.job_id and result.task_id not in self._cancelled

    def _check(self) -> None:
        if self.away:
            self.unanswered += 1
            raise ParentUnavailable("the parent orchestrator did not answer (MemoryParent.away)")
