"""The aggregator's step function: (group state, message) -> mutated state + messages to publish.

Like ``engine.step.apply`` for a job, and with the same contract: no I/O; the caller (the
aggregator actor) commits the mutated group with a compare-and-set, together with the returned
``Outgoing`` effects as its outbox, then publishes them, then acks.

Each branch follows the rules a job's single task follows (``engine.tasks``), with one
difference: a final failure settles the branch as ``failure`` instead of ending anything, so a
failed branch never leaves the job stuck. When the last branch settles, the group sends the job
exactly one ``AggregateDone`` (envelope id ``aggregate:{group id}``) and is done.

Idempotency: a duplicate or late message (a second ``GroupStart``, a result or a lost lease for a
settled branch or for an attempt that was retried, a deadline that no longer applies) changes nothing, and a
done or cancelled group ignores everything.
"""

from __future__ import annotations

from typing import Any

from engine import group as g
from engine import routes, tasks
from engine.group import BranchState, GroupState
from engine.job import Outgoing
from engine.messages import (
    AggregateDone,
    Envelope,
    GroupCancel,
    GroupStart,
    Message,
    TaskDone,
    TaskLost,
    TaskStarted,
    Timeout,
    envelope,
)
from engine.policy import StepPolicy


def apply(policy: StepPolicy, group: GroupState, env: Envelope, now: float) -> list[Outgoing]:
    """Apply ``env`` to ``group`` in place and return what must be published after the commit."""
    step = _GroupStep(policy, group, now)
    if not group.terminal:
        step.handle(env.body)
    group.remember(env.id)
    group.updated_at = now
    return step.out


class _GroupStep:
    def __init__(self, policy: StepPolicy, group: GroupState, now: float) -> None:
        self.policy, self.group, self.now = policy, group, now
        self.out: list[Outgoing] = []

    def handle(self, msg: Message) -> None:
        if isinstance(msg, GroupStart):
            if not self.group.offered:
                self.group.offered = True
                for each in self.group.branches:
                    self.offer(each)
        elif isinstance(msg, GroupCancel):
            self.group.status = g.CANCELLED
            return
        elif isinstance(msg, TaskStarted | TaskDone | TaskLost | Timeout) and msg.task_id is not None:
            branch = self.group.branch_with_task(msg.task_id)
            if branch is not None:
                self.judge(branch, self.verdict(branch, msg))
        self.complete_if_settled()

    def verdict(self, branch: BranchState, msg: TaskStarted | TaskDone | TaskLost | Timeout) -> tasks.Verdict:
        task, salt = branch.task, branch.key
        if isinstance(msg, TaskStarted):
            return tasks.started(task, msg)
        if isinstance(msg, TaskDone):
            return tasks.reported(task, msg, self.policy, salt, self.now)
        if isinstance(msg, TaskLost):
            return tasks.lost(task, msg, self.policy, salt, self.now)
        return tasks.expired(task, msg, self.policy, salt, self.now)

    def judge(self, branch: BranchState, verdict: tasks.Verdict) -> None:
        if isinstance(verdict, tasks.Produced):
            settle(branch, verdict.status, verdict.data, None)
        elif isinstance(verdict, tasks.Failed | tasks.GaveUp):
            settle(branch, "failure", None, {"code": verdict.code, "message": verdict.reason})
        elif isinstance(verdict, tasks.Picked | tasks.Retry) and verdict.deadline is not None:
            self.defer(verdict.deadline, verdict.at)
        elif isinstance(verdict, tasks.Reoffer):
            self.offer(branch)

    def offer(self, branch: BranchState) -> None:
        group = self.group
        offered = tasks.offer(branch.task, job_id=group.job_id, step=group.step, now=self.now, group_id=group.id)
        self.out.append(Outgoing(routes.ROUTER, envelope(branch.task.type, offered.offer, self.now)))
        if offered.deadline is not None:
            self.defer(offered.deadline, offered.at)

    def defer(self, msg: Timeout, at: float) -> None:
        self.out.append(Outgoing(routes.AGGREGATOR, envelope(self.group.id, msg, self.now), at=at))

    def complete_if_settled(self) -> None:
        group = self.group
        if not group.offered or any(b.result is None for b in group.branches):
            return
        group.status = g.DONE
        done = AggregateDone(group_id=group.id, results=group.results())
        self.out.append(Outgoing(routes.JOBS, envelope(group.job_id, done, self.now, id=f"aggregate:{group.id}")))


def settle(branch: BranchState, status: str, data: dict[str, Any] | None, error: dict[str, Any] | None) -> None:
    branch.result = {"status": status, "data": data, "error": error}
