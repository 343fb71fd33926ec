"""The deadlines a job defers to itself, and which of them a step makes obsolete (ADR 0008).

A job defers a ``Timeout`` to its own mailbox when it starts waiting for something with a time
limit: a worker to take its task (``dispatch``), that worker's result (``result``), the end of a
back-off before its task is offered again (``retry_task``) or its handler runs again
(``retry_step``), or a person's decision (``approval``). It waits for at most one of them at a
time, the one ``awaited`` names; the step acts on that one when it fires and ignores every other.

Each deferred ``Timeout`` gets a deterministic envelope id (``timeout_id``): the job id, the kind,
and the task id (a retry moves the task to a new id) or the approval's id or, for a step retry, the step and attempt.
The job keeps the ids of its deadlines that still apply in ``JobState.deadlines``. After every
step, ``settle`` keeps there only the awaited one and says which deadlines to add to the store's
deadline set and which ids to remove; the job actor hands both to the commit that writes the
state, so they change in the same atomic write, and a finished job leaves nothing scheduled.
A removed deadline that fired already (the timeouts actor read it) reaches the job as a stale
``Timeout`` and changes nothing.

Ids are unique per deferral: a task id is new for every attempt, and a step retry's id names
the job's transition count, which only grows, so an id never comes back once it was applied
(the job's window of applied message ids would take a recurring one for a redelivery).
"""

from __future__ import annotations

from engine import job as j
from engine import tasks
from engine.job import JobState, Outgoing
from engine.messages import Timeout, TimeoutKind


def deadline_id(job_id: str, kind: TimeoutKind, of: str) -> str:
    """The envelope id of a job's deadline of ``kind`` about ``of`` (a task id, or
    ``"{transitions}.{attempt}"`` for a step retry)."""
    return f"deadline:{job_id}:{kind}:{of}"


def timeout_id(state: JobState, msg: Timeout) -> str:
    """The envelope id of ``msg``, a deadline the job defers now (in the state it has now)."""
    if msg.kind == "retry_step":
        return deadline_id(state.id, msg.kind, f"{state.transitions}.{msg.attempt}")
    return deadline_id(state.id, msg.kind, msg.task_id or "")


def awaited(state: JobState) -> Timeout | None:
    """The one deadline the job waits for now, None if it waits for none: its task's
    (``tasks.awaited``), or the end of a step retry's back-off while it runs no task. The step
    acts on exactly this ``Timeout`` (equal fields) and ignores any other."""
    if state.terminal:
        return None
    if state.task is not None:
        return Timeout(tasks.awaited(state.task), state.task.id)
    if state.approval is not None and state.approval.expires_at is not None:
        return Timeout("approval", state.approval.id)
    if state.status == j.RUNNING and state.step_attempt > 0:
        return Timeout("retry_step", attempt=state.step_attempt)
    return None


def settle(state: JobState, deferred: list[Outgoing]) -> tuple[list[Outgoing], list[str]]:
    """After a step that deferred ``deferred``: keep in ``state.deadlines`` only the awaited
    deadline (if the job has it scheduled, from before or from this step) and return the
    deadlines to schedule and the ids to remove from the deadline set.

    A step defers a deadline as its last act, so what it deferred is what the job awaits; a
    deferral that is not (a new kind ``awaited`` does not know) raises ``AssertionError``
    rather than being dropped, which would leave the job waiting for nothing."""
    wanted = awaited(state)
    live = None if wanted is None else timeout_id(state, wanted)
    stray = [d.envelope.id for d in deferred if d.envelope.id != live]
    if stray:
        raise AssertionError(f"job {state.id} deferred {stray}, but awaits {live}")
    obsolete = [i for i in state.deadlines if i != live]
    state.deadlines = [i for i in state.deadlines if i == live] or [d.envelope.id for d in deferred[:1]]
    return deferred, obsolete
