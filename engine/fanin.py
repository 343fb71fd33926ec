"""The aggregator's step function: (group header, the branch a message is about, message) ->
mutated header and branch + messages to publish.

Like ``engine.step.apply`` for a job, and with the same contract: no I/O; the caller (the
aggregator actor) commits the mutated header with a compare-and-set, together with the returned
``Outgoing`` effects as its outbox and the branches the step wrote (``GroupStep.written``), then
publishes, then acks.

The caller hands the step only what one message needs, so a message costs the same whatever the
number of branches (ADR 0007): the header, and for a branch's pickup, result, lost lease or
deadline the one branch that ran that task id (``task_of``), or None if no branch did. A
``GroupStart`` brings its branches itself. The step counts settled branches in the header; when
the last one settles it says so (``GroupStep.complete``) and the caller reads every branch, once,
and adds ``aggregate(...)``: the job's one ``AggregateDone``.

Each branch follows the rules a job's single task follows (``engine.tasks``), with one
difference: a final failure settles the branch as ``failure`` instead of ending anything, so a
failed branch never leaves the job stuck. When the last branch settles, the group sends the job
exactly one ``AggregateDone`` (envelope id ``aggregate:{group id}``) and is done.

Idempotency: a duplicate or late message (a second ``GroupStart``, a result or a lost lease for a
settled branch or for an attempt that was retried, a deadline that no longer applies) changes
nothing, and a done or cancelled group ignores everything. This holds per branch, from the
branch's own state, so it does not depend on the header's window of applied message ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import group as g
from engine import routes, tasks
from engine.group import BranchState, GroupState
from engine.job import Outgoing
from engine.messages import (
    AggregateDone,
    CancelNotice,
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


@dataclass(slots=True)
class GroupStep:
    """What one message did to a group, besides mutating its header.

    ``out``: effects to publish after the commit. ``written``: branches to store with the header,
    in the same commit. ``complete``: the last branch settled with this message (the header is
    ``done``); the caller must add ``aggregate(group, every stored branch + written, now)`` to
    ``out`` before committing. True at most once per group. ``cancelled``: this message cancelled
    a group that had offered its branches; after the commit, the caller may tell the workers
    running them (``abandoned``, best effort). True at most once per group too."""

    out: list[Outgoing] = field(default_factory=list)
    written: list[BranchState] = field(default_factory=list)
    complete: bool = False
    cancelled: bool = False


def task_of(msg: Message) -> str | None:
    """The task id whose branch a message is about, if it is about one."""
    if isinstance(msg, TaskStarted | TaskDone | TaskLost | Timeout):
        return msg.task_id
    return None


def apply(policy: StepPolicy, group: GroupState, branch: BranchState | None, env: Envelope, now: float) -> GroupStep:
    """Apply ``env`` to ``group`` (and to ``branch``, the one that ran ``task_of(env.body)``) in
    place; return what must be written and published with the commit."""
    step = _GroupStep(policy, group, now)
    if not group.terminal:
        step.handle(env.body, branch)
    group.remember(env.id)
    group.updated_at = now
    return step.result


def aggregate(group: GroupState, branches: Iterable[BranchState], now: float) -> Outgoing:
    """The job's one ``AggregateDone``, from every branch of a complete group (where a branch
    occurs twice, the later occurrence counts: pass the stored branches, then ``written``)."""
    branches = list(branches)
    done = AggregateDone(group_id=group.id, results=g.results(branches), files=g.files(branches))
    return Outgoing(routes.JOBS, envelope(group.job_id, done, now, id=f"aggregate:{group.id}"))


def abandoned(group: GroupState, branches: Iterable[BranchState]) -> list[CancelNotice]:
    """What tells the workers that may be running the unsettled ``branches`` of a cancelled group
    to stop (one notice per branch whose current attempt may run)."""
    notices = (tasks.stop_notice(b.task, group.job_id) for b in branches if b.result is None)
    return [notice for notice in notices if notice is not None]


class _GroupStep:
    def __init__(self, policy: StepPolicy, group: GroupState, now: float) -> None:
        self.policy, self.group, self.now = policy, group, now
        self.result = GroupStep()

    def handle(self, msg: Message, branch: BranchState | None) -> None:
        if isinstance(msg, GroupStart):
            if not self.group.offered:
                self.group.offered = True
                for each in g.branches_of(msg):
                    self.offer(each)
                    self.result.written.append(each)
        elif isinstance(msg, GroupCancel):
            self.group.status = g.CANCELLED
            self.result.cancelled = self.group.offered
            return
        elif isinstance(msg, TaskStarted | TaskDone | TaskLost | Timeout) and branch is not None:
            self.branch_message(branch, msg)
        self.complete_if_settled()

    def branch_message(self, branch: BranchState, msg: TaskStarted | TaskDone | TaskLost | Timeout) -> None:
        if msg.task_id is None or not branch.runs(msg.task_id):
            return
        verdict = self.verdict(branch, msg)
        if isinstance(verdict, tasks.Produced) and isinstance(msg, TaskDone):
            branch.files = msg.files
        if not isinstance(verdict, tasks.Ignore):  # the rules change nothing they ignore
            self.judge(branch, verdict)
            self.result.written.append(branch)

    def verdict(self, branch: BranchState, msg: TaskStarted | TaskDone | TaskLost | Timeout) -> tasks.Verdict:
        task, salt = branch.task, branch.key
        if isinstance(msg, TaskStarted):
            return tasks.started(task, msg)
        if isinstance(msg, TaskDone):
            tasks.started_by_result(task, msg, self.now)  # its TaskStarted is late or lost
            return tasks.reported(task, msg, self.policy, salt, self.now)
        if isinstance(msg, TaskLost):
            return tasks.lost(task, msg, self.policy, salt, self.now)
        return tasks.expired(task, msg, self.policy, salt, self.now)

    def judge(self, branch: BranchState, verdict: tasks.Verdict) -> None:
        if isinstance(verdict, tasks.Produced):
            self.settle(branch, verdict.status, verdict.data, None)
        elif isinstance(verdict, tasks.Failed | tasks.GaveUp):
            self.settle(branch, "failure", None, {"code": verdict.code, "message": verdict.reason})
        elif isinstance(verdict, tasks.Picked | tasks.Retry) and verdict.deadline is not None:
            self.defer(verdict.deadline, verdict.at)
        elif isinstance(verdict, tasks.Reoffer):
            self.offer(branch)

    def settle(self, branch: BranchState, status: str, data: dict[str, Any] | None, error: Any) -> None:
        branch.result = {"status": status, "data": data, "error": error}
        self.group.settled += 1

    def offer(self, branch: BranchState) -> None:
        group = self.group
        offered = tasks.offer(branch.task, job_id=group.job_id, step=group.step, now=self.now, group_id=group.id)
        self.result.out.append(Outgoing(routes.ROUTER, envelope(branch.task.type, offered.offer, self.now)))
        if offered.deadline is not None:
            self.defer(offered.deadline, offered.at)

    def defer(self, msg: Timeout, at: float) -> None:
        self.result.out.append(Outgoing(routes.AGGREGATOR, envelope(self.group.id, msg, self.now), at=at))

    def complete_if_settled(self) -> None:
        group = self.group
        if group.offered and group.settled >= group.size:
            group.status = g.DONE
            self.result.complete = True
