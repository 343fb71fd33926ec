"""What happens to one dispatched task: the rules a job's single task and a fan-out branch share.

Pure decisions on a ``TaskState``. Given a worker's pickup or report, or a deadline, they say
what it means for the task, as a verdict; the caller (``engine.step`` for a job's task,
``engine.fanin`` for a group's branch) turns the verdict into effects: which mailbox its
deadlines go to, and what a final failure does (the job fails or is quarantined; a branch
settles as failed and the group carries on).

The rules (ARCHITECTURE.md, "Failure semantics"):

- ``INVALID_INPUT`` (and an integrity mismatch) fails the task; permanent codes (``PERMANENT``,
  ``SECURITY``, ``DEPENDENCY``...) fail it too, flagged ``quarantine``; any other code is
  retried under a new task id after a back-off, up to ``max_attempts``, then ``GaveUp``.
- A worker that reports ``cancelled`` (it gave the task up) is retried the same way, unless the
  task maps ``cancelled`` to a transition of its own.
- No pickup before the dispatch deadline fails the task; no result before the result deadline
  (which starts at pickup) retries it.
- A result may arrive before the task's pickup (``TaskStarted`` goes out without waiting for its
  confirm, so it can come late or be lost): it counts as the pickup too (``started_by_result``)
  and is judged as usual; no result deadline is set, the task is over. The late ``TaskStarted``
  is then ignored.
- A lost task (its lease ran out: the worker stopped heartbeating it) is retried like a result
  timeout, and counts an attempt: a worker that dies on the task every time does not retry it
  forever. A lost task whose pickup never reached the job (``TaskStarted`` was lost with the
  gateway that took it) is retried too: nobody runs it.

Idempotency: every function returns ``IGNORE`` for stale input (another task id, a second
pickup, a result from a worker the task was not given to, a deadline that no longer applies),
so replays and late messages change nothing. Only ``retry`` moves the task to a new id; a result
of the previous attempt is stale from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rxon.constants import ERROR_CODE_TIMEOUT

from engine.job import TaskState
from engine.messages import (
    CancelNotice,
    TaskDone,
    TaskLost,
    TaskOffer,
    TaskStarted,
    Timeout,
    TimeoutKind,
    WorkerEvent,
    new_id,
)
from engine.policy import FAIL_JOB, QUARANTINE, StepPolicy


@dataclass(frozen=True, slots=True)
class Ignore:
    """Stale or duplicate: change nothing."""


@dataclass(frozen=True, slots=True)
class Picked:
    """A worker took the task; defer ``deadline`` to ``at`` if there is one."""

    deadline: Timeout | None
    at: float


@dataclass(frozen=True, slots=True)
class Produced:
    """The worker finished with ``status`` and no error code (success or a custom status)."""

    status: str
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The task failed for good, without retry; ``quarantine`` for the permanent error codes."""

    code: str | None
    reason: str
    quarantine: bool = False


@dataclass(frozen=True, slots=True)
class Retry:
    """The task moved to a new id and waits out a back-off: defer ``deadline`` to ``at``."""

    reason: str
    deadline: Timeout
    at: float


@dataclass(frozen=True, slots=True)
class GaveUp:
    """A retryable failure on the last attempt; ``reason`` says how many attempts were made."""

    code: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Reoffer:
    """The back-off is over: offer the task again, under its new id."""


IGNORE = Ignore()
Verdict = Ignore | Picked | Produced | Failed | Retry | GaveUp | Reoffer


@dataclass(frozen=True, slots=True)
class Offered:
    """A task offer for the router, and the dispatch deadline to defer, if the task has one."""

    offer: TaskOffer
    deadline: Timeout | None
    at: float


def offer(task: TaskState, *, job_id: str, step: int, now: float, group_id: str | None = None) -> Offered:
    """Offer ``task`` (again) from ``now``; the dispatch deadline runs from here."""
    task.dispatched_at = now
    body = TaskOffer(
        job_id=job_id,
        task_id=task.id,
        type=task.type,
        params=task.params,
        priority=task.priority,
        step=step,
        result_timeout=task.result_timeout,
        group_id=group_id,
        dispatch_deadline=None if task.dispatch_timeout is None else now + task.dispatch_timeout,
    )
    if task.dispatch_timeout is None:
        return Offered(body, None, now)
    return Offered(body, Timeout("dispatch", task.id), now + task.dispatch_timeout)


def started(task: TaskState, msg: TaskStarted) -> Picked | Ignore:
    """The first pickup of the current task starts its result deadline; any other is ignored
    (a second hand-out of the same task: its result will be refused as a worker mismatch)."""
    if task.id != msg.task_id or task.worker_id is not None:
        return IGNORE
    task.worker_id, task.started_at = msg.worker_id, msg.at
    if task.result_timeout is None:
        return Picked(None, msg.at)
    return Picked(Timeout("result", task.id), msg.at + task.result_timeout)


def started_by_result(task: TaskState, msg: TaskDone, now: float) -> bool:
    """Record the pickup of the current task from its result when no ``TaskStarted`` came first:
    taken by the reporting worker, dated ``now`` (the result carries no pickup time, so that a
    resent result stays the identical message). False (nothing changed) if the task is another,
    waits out a back-off, is taken already, or the result names no worker."""
    if task.id != msg.task_id or task.waiting_retry or task.worker_id is not None or msg.worker_id is None:
        return False
    task.worker_id, task.started_at = msg.worker_id, now
    return True


def reported(task: TaskState, msg: TaskDone, policy: StepPolicy, salt: str, now: float) -> Verdict:
    """Judge a worker's result. ``salt`` spreads the back-off jitter (the job or branch id)."""
    if task.id != msg.task_id or task.waiting_retry:
        return IGNORE
    if task.worker_id is not None and msg.worker_id is not None and msg.worker_id != task.worker_id:
        return IGNORE
    code = msg.error_code
    described = f"task {task.type!r} failed with {code}: {msg.error_message or 'no message'}"
    if code in FAIL_JOB:
        return Failed(code, described)
    if code in QUARANTINE:
        return Failed(code, described, quarantine=True)
    if code is not None:
        return retry(task, code, described, policy, salt, now)
    if msg.status == "cancelled" and "cancelled" not in task.transitions:
        return retry(task, None, f"worker {msg.worker_id} gave the task {task.type!r} up", policy, salt, now)
    return Produced(msg.status, msg.data)


def event_target(task: TaskState, msg: WorkerEvent) -> str | None:
    """The state a worker's event moves the job to (``dispatch_task(event_transitions=)``), or None
    when it moves nothing: the task does not map the event type, the event names another task
    (an earlier attempt's), the task waits out a back-off, or another worker than the one that took
    it sent the event. An event naming no task is about the job's current task."""
    if not task.event_transitions or msg.event_type not in task.event_transitions or task.waiting_retry:
        return None
    if msg.task_id is not None and msg.task_id != task.id:
        return None
    if task.worker_id is not None and msg.worker_id != task.worker_id:
        return None
    return task.event_transitions[msg.event_type]


def stop_notice(task: TaskState, job_id: str) -> CancelNotice | None:
    """What tells a worker that may be running ``task`` to stop, now that it is cancelled; None
    while the task waits out a back-off (no attempt of it runs)."""
    if task.waiting_retry:
        return None
    return CancelNotice(job_id, task.id, task.worker_id)


def awaited(task: TaskState) -> TimeoutKind:
    """The one deadline ``task`` waits for now: the end of its back-off while it waits to be
    offered again, its result once a worker took it, else its pickup. ``expired`` acts on that
    deadline of the current task id and ignores every other, so a deadline of another kind or
    task id no longer matters and may be dropped from the deadline set (ADR 0008)."""
    if task.waiting_retry:
        return "retry_task"
    if task.worker_id is not None:
        return "result"
    return "dispatch"


def expired(task: TaskState, msg: Timeout, policy: StepPolicy, salt: str, now: float) -> Verdict:
    """Judge a deadline of the task; one that no longer applies (not ``awaited``) is ignored."""
    if task.id != msg.task_id or msg.kind != awaited(task):
        return IGNORE
    if msg.kind == "retry_task":
        task.waiting_retry = False
        return Reoffer()
    if msg.kind == "dispatch":
        waited = f"{task.dispatch_timeout:g} s" if task.dispatch_timeout is not None else "its dispatch timeout"
        return Failed(ERROR_CODE_TIMEOUT, f"no worker with skill {task.type!r} took the task within {waited}")
    waited = f"{task.result_timeout:g} s" if task.result_timeout is not None else "its result timeout"
    reason = f"worker {task.worker_id} sent no result for task {task.type!r} within {waited}"
    return retry(task, ERROR_CODE_TIMEOUT, reason, policy, salt, now)


def lost(task: TaskState, msg: TaskLost, policy: StepPolicy, salt: str, now: float) -> Retry | GaveUp | Ignore:
    """Judge a lost lease: retry the task under a new id if ``msg`` is about its current attempt,
    held by that worker (or by a worker whose pickup the task never heard of)."""
    if task.id != msg.task_id or task.waiting_retry:
        return IGNORE
    if task.worker_id is not None and task.worker_id != msg.worker_id:
        return IGNORE
    reason = f"worker {msg.worker_id} stopped heartbeating task {task.type!r}: its lease expired"
    return retry(task, ERROR_CODE_TIMEOUT, reason, policy, salt, now)


def retry(task: TaskState, code: str | None, reason: str, policy: StepPolicy, salt: str, now: float) -> Retry | GaveUp:
    """Move the task to a new id and wait a back-off before offering it again, or give up."""
    if task.attempt >= task.max_attempts:
        return GaveUp(code, f"{reason} (gave up after {task.attempt} attempts)")
    task.attempt += 1
    task.id, task.worker_id, task.started_at, task.waiting_retry = new_id(), None, None, True
    at = now + policy.backoff(task.attempt - 1, salt)
    return Retry(reason, Timeout("retry_task", task.id), at)
