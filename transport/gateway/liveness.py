"""Is a task still wanted, and by whom? The rule the poll, result and heartbeat handlers share.

A job's own task is wanted while the job is live and waits on that task id: its pickup and result
go to the job's mailbox. A fan-out branch's task is wanted while the job is live, still waits on
that branch's group, and the group runs that task id for an unsettled branch (not retried under a
new id since): its pickup and result go to the group's aggregator. Everything else is stale.

For a branch this reads the job and that one branch, not the group's header: a done group has
every branch settled, and a group is cancelled only when its job ended, which the job shows.

Reads only; the actors decide again on delivery, so a task that goes stale between this check and
the message arriving is still refused there.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.ports.store import GroupStore
from engine import routes
from engine.job import JobState


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Where the pickup and the result of a task go: a route and the key it is ordered by."""

    route: str
    key: str


async def mailbox_of(store: GroupStore, job: JobState, task_id: str) -> Mailbox | None:
    """The mailbox of ``task_id`` of ``job``, or None if the job no longer wants that task."""
    if job.terminal:
        return None
    if job.task is not None:
        return Mailbox(routes.JOBS, job.id) if job.task.id == task_id else None
    ref = job.group
    if ref is None or ref.results is not None:
        return None
    branch = await store.load_branch(ref.id, task_id)
    if branch is None or not branch.runs(task_id):
        return None
    return Mailbox(routes.AGGREGATOR, ref.id)
