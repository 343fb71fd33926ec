"""Pure Holon mode: this orchestrator as an RXON worker of a parent orchestrator (ADR 0016).

Its skills are its blueprints. A task from the parent becomes a job of the blueprint the task
names, with the task's params as ``initial_data``; the job's end is the task's result. This
module decides what each event means; ``actors.holon_loops`` runs it against the parent.

- The job id derives from the task id (``holon_job_id``): a task delivered twice makes one job,
  and a second delivery of a task whose job ended announces that end again.
- Accepting is: record the task (``HolonTasks``), create the job, publish its ``Start``, each
  step idempotent. A crash in between leaves a record without a job, or a pending job;
  ``reconcile`` (at start-up, and once more ``grace`` later) drops or starts them.
- A job's end reaches the holon on the ``holon`` mailbox: the ``JobEvent`` its final commit sent
  (``engine.step``), never by reading jobs. ``answer`` sends the result, then forgets the record;
  the runtime acks after. A crash in between answers again; the parent applies a result once.
- Heartbeats list the recorded tasks (the parent keeps their leases) and the load against
  ``capacity``; each task the parent names in ``cancel_task_ids`` has its job cancelled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from rxon.constants import ERROR_CODE_PERMANENT, TASK_STATUS_CANCELLED, TASK_STATUS_FAILURE
from rxon.models import SkillInfo, TaskError, TaskPayload, TaskResult

from actors.ports.broker import Publisher
from actors.ports.parent import ParentLink
from actors.ports.store import HolonTasks, JobStore
from actors.stats import Stats
from engine import defaults
from engine import job as j
from engine.errors import ParentRefused
from engine.job import JobState, encode_state
from engine.messages import Cancel, Envelope, JobEvent, ParentTask, Start, envelope
from engine.registry import BlueprintRegistry
from engine.routes import HOLON, JOBS

log = logging.getLogger(__name__)

_JOB_IDS = uuid.UUID("5f0c2a4e-7d1b-4c55-9a51-3b8e6f1d2c70")  # namespace of the ids of holon jobs


def holon_job_id(task_id: str) -> str:
    """The id of the job a parent's task ``task_id`` creates: the same for every delivery."""
    return str(uuid.uuid5(_JOB_IDS, task_id))


class HolonStore(JobStore, HolonTasks, Protocol):
    """What the holon needs of the store: jobs, and the record of the parent's tasks."""


@dataclass(frozen=True, slots=True)
class HolonConfig:
    """``client_id`` owns the jobs the parent's tasks create; ``grace``: how old a record must be
    before ``reconcile`` repairs it (younger ones may be mid-accept in another process)."""

    client_id: str
    capacity: int = defaults.PARENT_MAX_CONCURRENT_TASKS
    heartbeat_interval: float = defaults.PARENT_HEARTBEAT_INTERVAL
    poll_seconds: float = defaults.PARENT_POLL_SECONDS
    max_transitions: int = defaults.MAX_TRANSITIONS_PER_JOB
    grace: float = defaults.HOLON_REPAIR_GRACE_SECONDS


class Holon:
    def __init__(
        self,
        parent: ParentLink,
        registry: BlueprintRegistry,
        store: HolonStore,
        broker: Publisher,
        config: HolonConfig,
        clock: Callable[[], float],
        stats: Stats | None = None,
    ) -> None:
        self.parent, self._registry, self._store, self._broker = parent, registry, store, broker
        self.config, self._clock = config, clock
        self._created = (Stats() if stats is None else stats).jobs_created

    @property
    def skills(self) -> list[SkillInfo]:
        return [SkillInfo(name=bp.name, type="blueprint") for bp in self._registry]

    async def running(self) -> dict[str, float]:
        """The parent's tasks running here: task id -> when it was accepted."""
        return await self._store.holon_tasks()

    async def accept(self, task: TaskPayload) -> None:
        """Run ``task`` as a job of the blueprint it names (see the module's docstring)."""
        bp = self._registry.get(task.type)
        if bp is None:
            await self._refuse(task, f"no blueprint named {task.type!r} here")
            return
        now, job_id = self._clock(), holon_job_id(task.task_id)
        await self._store.add_holon_task(task.task_id, now)
        state = JobState(
            id=job_id,
            blueprint=bp.name,
            client_id=self.config.client_id,
            current_state=bp.start_state,
            initial_data=dict(task.params or {}),
            created_at=now,
            updated_at=now,
            max_transitions=self.config.max_transitions,
            parent_task=ParentTask(task.task_id, task.job_id),
            # The parent's security, metadata and policy go on to this job's own tasks.
            security=msgspec.to_builtins(task.security) if task.security is not None else None,
            metadata=task.metadata,
            allowed_skills=_allowed_skills(task.policy),
            # the parent's trace, when it sends one: this job's steps join it
            traceparent=(task.tracing_context or {}).get("traceparent"),
        )
        if await self._store.create_job(state):
            self._created[bp.name] += 1
            created = encode_state(msgspec.structs.replace(state, version=1))
            await self._broker.publish(JOBS, envelope(job_id, Start(created), now, id=f"start:{job_id}"))
        elif (stored := await self._store.load_job(job_id)) is not None:
            await self._resume(stored)

    async def _refuse(self, task: TaskPayload, message: str) -> None:
        log.warning("parent task %s refused: %s", task.task_id, message)
        result = TaskResult(
            job_id=task.job_id,
            task_id=task.task_id,
            worker_id=self.parent.worker_id,
            status=TASK_STATUS_FAILURE,
            error=TaskError(code=ERROR_CODE_PERMANENT, message=message),
            timestamp=int(self._clock()),
        )
        await self.parent.send_result(result)

    async def _resume(self, state: JobState) -> None:
        """Carry an existing holon job on: start it if pending, announce its end if it ended."""
        now = self._clock()
        if state.status == j.PENDING:
            await self._broker.publish(JOBS, envelope(state.id, Start(), now, id=f"start:{state.id}"))
        elif state.terminal:
            ended = JobEvent(
                job_id=state.id,
                event=f"job_{state.status}",
                status=state.status,
                result=state.state_history if state.status == j.FINISHED else None,
                error=state.error,
                parent_task=state.parent_task,
            )
            await self._broker.publish(HOLON, envelope(state.id, ended, now))

    async def answer(self, env: Envelope) -> None:
        """The ``holon`` mailbox's handler: answer the parent's task of the job that ended.

        A result the parent refuses outright (``ParentRefused``) is logged and given up: it never
        will take it. ``ParentUnavailable`` propagates, and the runtime tries again."""
        event = env.body
        if not isinstance(event, JobEvent) or event.parent_task is None:
            return
        task = event.parent_task
        try:
            await self.parent.send_result(task_result(event, self.parent.worker_id, self._clock()))
        except ParentRefused as exc:
            log.error("the parent refused the result of task %s (job %s): %s", task.task_id, event.job_id, exc)
        await self._store.remove_holon_task(task.task_id)

    async def beat(self) -> None:
        """Heartbeat the running tasks and the load; cancel the jobs of the tasks the parent names.
        A cancelled task whose job does not exist (a crash before it was created) is forgotten."""
        running = await self._store.holon_tasks()
        status = "full" if len(running) >= self.config.capacity else "busy" if running else "idle"
        for task_id in await self.parent.heartbeat(status, sorted(running)):
            job_id, now = holon_job_id(task_id), self._clock()
            if await self._store.load_job(job_id) is None:
                await self._store.remove_holon_task(task_id)
                continue
            stop = Cancel(reason="cancelled by the parent orchestrator")
            await self._broker.publish(JOBS, envelope(job_id, stop, now, id=f"cancel:{job_id}"))

    async def reconcile(self) -> None:
        """Repair what a crash mid-accept or mid-answer left (records older than ``grace``): a
        record without a job is dropped, a pending job started, an ended one announced again."""
        now = self._clock()
        for task_id, accepted_at in (await self._store.holon_tasks()).items():
            if now - accepted_at < self.config.grace:
                continue
            state = await self._store.load_job(holon_job_id(task_id))
            if state is None:
                await self._store.remove_holon_task(task_id)
            else:
                await self._resume(state)


def task_result(event: JobEvent, worker_id: str, now: float) -> TaskResult:
    """The parent's task result for the end of its job: success carries the final
    ``state_history``; failed or quarantined is a ``PERMANENT_ERROR`` failure naming the job's
    status and error (retrying the same input would end the same way); cancelled is ``cancelled``,
    as an SDK worker reports a task it stopped."""
    assert event.parent_task is not None
    task = event.parent_task
    base = TaskResult(job_id=task.job_id, task_id=task.task_id, worker_id=worker_id, timestamp=int(now))
    if event.status == j.FINISHED:
        return msgspec.structs.replace(base, data=event.result or {})
    if event.status == j.CANCELLED:
        return msgspec.structs.replace(base, status=TASK_STATUS_CANCELLED)
    message = f"job {event.job_id} {event.status}: {event.error or 'no reason given'}"
    details = {"job_id": event.job_id, "status": event.status}
    error = TaskError(code=ERROR_CODE_PERMANENT, message=message, details=details)
    return msgspec.structs.replace(base, status=TASK_STATUS_FAILURE, error=error)


def _allowed_skills(policy: dict[str, Any] | None) -> list[str] | None:
    """``policy.allowed_skills`` of a parent's task, if it is a list of names (else no policy)."""
    skills = (policy or {}).get("allowed_skills")
    if isinstance(skills, list) and all(isinstance(s, str) for s in skills):
        return list(skills)
    return None
