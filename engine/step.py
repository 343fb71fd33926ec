"""The step function: (job state, message) -> mutated state + messages to publish.

``apply`` runs blueprint handlers but performs no I/O of its own: the caller (the job actor)
commits the mutated state with a compare-and-set, together with the deadlines the step deferred
and the removal of those it made obsolete (``JobStep``, ADR 0008), and only then publishes the
step's immediate effects, then acks. A handler may therefore run more than once for one step if
a node dies before the commit (at-least-once handlers, effectively-once state).

Nothing changes a terminal job: a cancelled job never comes back to life. A message the rules
ignore (stale, duplicate, or for a terminal job) leaves the state untouched, its id included:
there is nothing to commit, and a redelivery of it is ignored again by the same rules.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec
from rxon.constants import EVENT_TYPE_PROGRESS

from engine import deadlines, routes, tasks, webhooks
from engine import history as h
from engine import job as j
from engine import objects as o
from engine.actions import ActionFactory, AwaitApproval, DispatchParallel, DispatchTask, RunBlueprint, Transition
from engine.blueprint import StateMachineBlueprint
from engine.context import ClientInfo, JobContext
from engine.errors import ActionError, InjectionError, ObjectNotFound
from engine.history import HistoryEvent
from engine.job import Approval, ChildRef, GroupRef, JobState, Outgoing, TaskState
from engine.messages import (
    AggregateDone,
    BranchSpec,
    Cancel,
    CancelNotice,
    ChildEnded,
    Decision,
    Envelope,
    GroupCancel,
    GroupStart,
    JobEvent,
    Message,
    Redrive,
    Start,
    StartChild,
    TaskDone,
    TaskLost,
    TaskStarted,
    Timeout,
    WorkerEvent,
    envelope,
    new_id,
)
from engine.policy import StepPolicy, skills_refusal

_EVENTS = {
    j.FINISHED: "job_finished",
    j.FAILED: "job_failed",
    j.QUARANTINED: "job_quarantined",
    j.CANCELLED: "job_cancelled",
}
_REDRIVABLE = frozenset({j.FAILED, j.QUARANTINED})  # a cancelled job never comes back


@dataclass(slots=True)
class JobStep:
    """What one message did to a job, besides mutating its state.

    ``changed`` is False when the message changed nothing (the state is untouched, its id is not
    remembered): there is nothing to commit or publish. Else the caller commits the state with
    ``deadlines`` (deferred ``Timeout``s, ``at`` set, to add to the deadline set) and
    ``obsolete`` (ids to remove from it) and ``history`` (events to append to the job's history)
    in one atomic write, then publishes ``out``, the immediate effects: the outbox a redelivery
    publishes again. Deadlines are never in ``out``.

    ``stopped``: the task the step cancelled while a worker may be running it. After the commit,
    the caller announces it (best effort, not in the outbox: a redelivery does not repeat it; the
    worker's next heartbeat answer tells it anyway).
    """

    changed: bool = True
    out: list[Outgoing] = field(default_factory=list)
    deadlines: list[Outgoing] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)
    history: list[HistoryEvent] = field(default_factory=list)
    stopped: list[CancelNotice] = field(default_factory=list)


async def apply(
    bp: StateMachineBlueprint,
    policy: StepPolicy,
    state: JobState,
    env: Envelope,
    now: float,
    objects: o.JobObjects | None = None,
) -> JobStep:
    """Apply ``env`` to ``state`` in place; return what to commit with it and publish after.

    ``objects`` (``engine.objects``) gives handlers their ``task_files`` and offloads large task
    params; it may raise ``ObjectStoreUnavailable`` (the step is then applied again later)."""
    step = _Step(bp, policy, state, now, objects)
    if state.terminal and not (isinstance(env.body, Redrive) and state.status in _REDRIVABLE):
        return JobStep(changed=False)
    if not await step.handle(env.body):
        return JobStep(changed=False)
    return step.finish(env)


class _Step:
    def __init__(
        self, bp: StateMachineBlueprint, policy: StepPolicy, state: JobState, now: float, objects: o.JobObjects | None
    ) -> None:
        self.bp, self.policy, self.state, self.now, self.objects = bp, policy, state, now, objects
        self.initial_data: dict[str, Any] | None = None  # as handlers see it (``context``), once per step
        self.out: list[Outgoing] = []
        self.deferred: list[Outgoing] = []
        self.history: list[HistoryEvent] = []
        self.stopped: list[CancelNotice] = []

    async def handle(self, msg: Message) -> bool:
        """Apply ``msg`` to a running job (or ``Redrive`` to a failed one); False if the rules
        ignore it (nothing changed)."""
        if isinstance(msg, Start | StartChild):
            if self.state.status != j.PENDING:
                return False
            self.state.status = j.RUNNING
            self.record(h.JOB_STARTED)
            await self.advance()
            return True
        if isinstance(msg, Cancel):
            self.end(j.CANCELLED, msg.reason)
            return True
        if isinstance(msg, Redrive):
            return await self.redrive(msg)
        if isinstance(msg, Decision):
            return await self.decided(msg)
        if isinstance(msg, ChildEnded):
            return await self.child_ended(msg)
        return await self.handle_waiting(msg)

    async def handle_waiting(self, msg: Message) -> bool:
        """Apply news of what the job waits on: its task, its fan-out, a deadline."""
        if isinstance(msg, TaskStarted):
            return self.task_started(msg)
        if isinstance(msg, TaskDone):
            return await self.task_done(msg)
        if isinstance(msg, TaskLost):
            return await self.task_lost(msg)
        if isinstance(msg, Timeout):
            return await self.timeout(msg)
        if isinstance(msg, AggregateDone):
            return await self.aggregate_done(msg)
        if isinstance(msg, WorkerEvent):
            return await self.worker_event(msg)
        return False

    def finish(self, env: Envelope) -> JobStep:
        """Remember ``env`` as applied and settle the job's deadlines (``engine.deadlines``)."""
        self.state.remember(env.id)
        self.state.updated_at = self.now
        schedule, obsolete = deadlines.settle(self.state, self.deferred)
        return JobStep(out=self.out, deadlines=schedule, obsolete=obsolete, history=self.history, stopped=self.stopped)

    def record(self, event: str, **details: Any) -> None:
        self.history.append(HistoryEvent(self.now, event, self.state.current_state, details))

    # -- running handlers -----------------------------------------------------------------

    async def advance(self) -> None:
        """Run handlers from the current state until the job waits for something or ends."""
        while not self.state.terminal:
            actions = await self.run_handler()
            if actions is None:
                return
            action = actions.chosen
            if self.bp.states[self.state.current_state].is_end:
                if action is None:
                    self.end(j.FINISHED)
                else:
                    self.fail(f"end state {self.state.current_state!r} must not choose an action")
                return
            if isinstance(action, Transition):
                self.transition(action.target)
            elif isinstance(action, DispatchTask):
                await self.dispatch(action)
                return
            elif isinstance(action, DispatchParallel):
                await self.dispatch_parallel(action)
                return
            elif isinstance(action, AwaitApproval):
                self.await_approval(action)
                return
            elif isinstance(action, RunBlueprint):
                await self.run_child(action)
                return
            else:
                self.fail(f"the handler of state {self.state.current_state!r} chose no action")

    async def run_handler(self) -> ActionFactory | None:
        """Call the handler of the current state; None when the step cannot go on now."""
        state = self.state
        try:
            ctx = await self.context()
        except ObjectNotFound as exc:
            self.fail(f"initial_data refers to an object that is gone: {exc}")
            return None
        if ctx.aggregation_results is not None:  # the group is done: its aggregator runs
            handler = self.bp.states[state.current_state].aggregator
        else:
            handler = self.bp.find_handler(state.current_state, ctx.condition_root())
        if handler is None:
            self.fail(f"no handler of state {state.current_state!r} matches the job")
            return None
        if self.objects is not None and handler.injector.sees_files:
            ctx.task_files = self.objects.task_files(state.id)
        history_before = _snapshot(state.state_history)
        try:
            await handler.func(**handler.injector.arguments(ctx, ctx.sources()))
        except (InjectionError, ActionError) as exc:
            self.fail(str(exc))
            return None
        except Exception as exc:
            state.state_history.clear()
            state.state_history.update(msgspec.msgpack.decode(history_before))
            self.retry_step(exc)
            return None
        finally:
            if ctx.task_files is not None:
                await ctx.task_files.aclose()
        state.step_attempt, state.error = 0, None
        if ctx.aggregation_results is not None:
            state.group = None  # the aggregator ran: the group is over for this job
        return ctx.actions

    async def context(self) -> JobContext:
        """The handler's context; ``initial_data`` with its offloaded values read back, once per
        step (a copy then: a handler's changes to it are not kept). ``task_files`` is set by
        ``run_handler``, for a handler that can see it."""
        s = self.state
        if self.initial_data is None:
            self.initial_data = await o.check_out(self.objects, s.id, s.initial_data)
        group = s.group if s.group is not None and s.group.aggregate_into == s.current_state else None
        return JobContext(
            job_id=s.id,
            current_state=s.current_state,
            initial_data=self.initial_data,
            state_history=s.state_history,
            actions=ActionFactory(),
            client=ClientInfo(s.client_id, s.client_plan, s.client_params),
            data_stores=self.bp.data_stores,
            webhook_url=s.webhook_url,
            aggregation_results=group.results if group is not None else None,
            task_error=s.task_error,
            child_result=s.child_result,
        )

    def retry_step(self, exc: Exception) -> None:
        state = self.state
        state.step_attempt += 1
        error = f"handler of state {state.current_state!r} raised {type(exc).__name__}: {exc}"
        self.record(h.HANDLER_FAILED, error=error, attempt=state.step_attempt)
        if state.step_attempt > self.policy.max_step_retries:
            self.end(j.QUARANTINED, f"{error} (gave up after {self.policy.max_step_retries} retries)")
            return
        state.error = error
        delay = self.policy.backoff(state.step_attempt, state.id)
        self.defer(Timeout("retry_step", attempt=state.step_attempt), self.now + delay)

    def transition(self, target: str) -> None:
        state = self.state
        if target not in self.bp.states:
            self.fail(f"state {state.current_state!r} transitions to {target!r}, which has no handler")
            return
        state.transitions += 1
        if state.transitions > state.max_transitions:
            self.fail(f"exceeded max_transitions ({state.max_transitions}); is the blueprint looping?")
            return
        previous, state.current_state = state.current_state, target
        state.error = None
        self.record(h.STATE_ENTERED, previous=previous)

    # -- tasks ----------------------------------------------------------------------------

    async def dispatch(self, action: DispatchTask) -> None:
        state, task_id = self.state, new_id()
        if refusal := skills_refusal(state.allowed_skills, [action.task_type]):
            self.fail(refusal)
            return
        state.task = TaskState(
            id=task_id,
            type=action.task_type,
            params=await o.check_in(self.objects, state.id, f"tasks/{task_id}", action.params),
            transitions=action.transitions,
            max_attempts=action.max_attempts or self.policy.task_max_attempts,
            priority=action.priority,
            dispatch_timeout=_first(action.dispatch_timeout, state.dispatch_timeout, self.policy.dispatch_timeout),
            result_timeout=_first(action.result_timeout, state.result_timeout, self.policy.result_timeout),
            event_transitions=action.event_transitions,
        )
        state.status, state.task_error = j.WAITING_FOR_WORKER, None
        self.offer(state.task)

    def offer(self, task: TaskState) -> None:
        self.record(h.TASK_DISPATCHED, task_id=task.id, task_type=task.type, attempt=task.attempt)
        offered = tasks.offer(task, job_id=self.state.id, step=self.state.transitions, now=self.now)
        self.out.append(Outgoing(routes.ROUTER, envelope(task.type, offered.offer, self.now)))
        if offered.deadline is not None:
            self.defer(offered.deadline, offered.at)

    def task_started(self, msg: TaskStarted) -> bool:
        task = self.state.task
        if task is None:
            return False
        picked = tasks.started(task, msg)
        if isinstance(picked, tasks.Ignore):
            return False
        self.record(h.TASK_STARTED, task_id=task.id, worker_id=msg.worker_id, attempt=task.attempt)
        if picked.deadline is not None:
            self.defer(picked.deadline, picked.at)
        return True

    async def task_done(self, msg: TaskDone) -> bool:
        task = self.state.task
        if task is None:
            return False
        if tasks.started_by_result(task, msg, self.now):  # its TaskStarted is late or lost
            self.record(h.TASK_STARTED, task_id=task.id, worker_id=msg.worker_id, attempt=task.attempt)
        verdict = tasks.reported(task, msg, self.policy, self.state.id, self.now)
        if not isinstance(verdict, tasks.Produced):
            return await self.judged(task, verdict)
        files = {"files": msg.files} if msg.files else {}  # the audit trail of what the worker uploaded
        self.record(
            h.TASK_FINISHED, task_id=task.id, worker_id=msg.worker_id, attempt=task.attempt, status=msg.status, **files
        )
        if msg.files:
            self.state.data_metadata = {**(self.state.data_metadata or {}), **msg.files}
        if verdict.status in task.transitions:
            if verdict.data:
                self.state.state_history.update(verdict.data)
            await self.follow(task.transitions[verdict.status])
        else:
            handled = ", ".join(sorted(task.transitions))
            self.fail(f"worker returned status {msg.status!r}; the task's transitions handle only {handled}")
        return True

    async def task_lost(self, msg: TaskLost) -> bool:
        task = self.state.task
        if task is None:
            return False
        return await self.judged(task, tasks.lost(task, msg, self.policy, self.state.id, self.now))

    async def timeout(self, msg: Timeout) -> bool:
        state, task = self.state, self.state.task
        if msg.kind in ("retry_step", "approval"):
            if msg != deadlines.awaited(state):
                return False
            if msg.kind == "approval":
                await self.approval_expired()
            else:
                await self.advance()
            return True
        if task is None:
            return False
        return await self.judged(task, tasks.expired(task, msg, self.policy, state.id, self.now))

    async def judged(self, task: TaskState, verdict: tasks.Verdict) -> bool:
        """Act on a verdict about the job's task (``Produced`` is handled by ``task_done``);
        False for ``Ignore``."""
        if isinstance(verdict, tasks.Ignore):
            return False
        if isinstance(verdict, tasks.Failed | tasks.GaveUp):
            self.record(h.TASK_FAILED, task_id=task.id, attempt=task.attempt, code=verdict.code, reason=verdict.reason)
            self.state.task_error = {
                "code": verdict.code,
                "message": verdict.reason,
                "task_type": task.type,
                "attempts": task.attempt,
            }
            if "failure" in task.transitions:
                await self.follow(task.transitions["failure"])
            elif isinstance(verdict, tasks.Failed) and not verdict.quarantine:
                self.end(j.FAILED, verdict.reason)
            else:
                self.end(j.QUARANTINED, verdict.reason)
        elif isinstance(verdict, tasks.Retry):
            self.state.error = verdict.reason
            self.record(h.TASK_RETRY, task_id=task.id, attempt=task.attempt, reason=verdict.reason, retry_at=verdict.at)
            self.defer(verdict.deadline, verdict.at)
        elif isinstance(verdict, tasks.Reoffer):
            self.offer(task)
        return True

    async def worker_event(self, msg: WorkerEvent) -> bool:
        """Record a worker's event (and tell the webhook); if the task's ``event_transitions`` map
        it (``tasks.event_target``), supersede the task: its worker is told to stop, the event's
        payload joins ``state_history`` and the job moves on. Progress only counts when it moves
        the job (the gateway stores and announces it otherwise)."""
        state, task = self.state, self.state.task
        target = tasks.event_target(task, msg) if task is not None else None
        if msg.event_type == EVENT_TYPE_PROGRESS and target is None:
            return False
        self.record(
            h.WORKER_EVENT,
            event_type=msg.event_type,
            event_id=msg.event_id,
            worker_id=msg.worker_id,
            task_id=msg.task_id,
            payload=msg.payload,
            moved_to=target,
        )
        if state.webhook_url and msg.event_type != EVENT_TYPE_PROGRESS:
            self.out.append(webhooks.worker_event(state, msg, self.now))
        if task is not None and target is not None:
            if notice := tasks.stop_notice(task, state.id):
                self.stopped.append(notice)
            state.state_history.update(msg.payload)
            await self.follow(target)
        return True

    async def follow(self, target: str) -> None:
        self.state.task = None
        self.state.status = j.RUNNING
        self.transition(target)
        await self.advance()

    # -- fan-out ----------------------------------------------------------------------------

    async def dispatch_parallel(self, action: DispatchParallel) -> None:
        """Hand the branches to a new group's aggregator in one ``GroupStart``; the job then waits
        for the one ``AggregateDone`` the aggregator sends when every branch has settled."""
        state, policy = self.state, self.policy
        spec = self.bp.states.get(action.aggregate_into)
        if spec is None or spec.aggregator is None:
            self.fail(f"dispatch_parallel aggregates into {action.aggregate_into!r}, which has no aggregator handler")
            return
        if refusal := skills_refusal(state.allowed_skills, [b.task_type for b in action.branches]):
            self.fail(refusal)
            return
        self.transition(action.aggregate_into)
        if state.terminal:
            return
        ids = [new_id() for _ in action.branches]
        branches = [
            BranchSpec(
                task_id=task_id,
                type=b.task_type,
                params=await o.check_in(self.objects, state.id, f"tasks/{task_id}", b.params),
                priority=b.priority,
                dispatch_timeout=_first(b.dispatch_timeout, state.dispatch_timeout, policy.dispatch_timeout),
                result_timeout=_first(b.result_timeout, state.result_timeout, policy.result_timeout),
                max_attempts=b.max_attempts or policy.task_max_attempts,
            )
            for task_id, b in zip(ids, action.branches, strict=True)
        ]
        group = GroupRef(id=new_id(), aggregate_into=action.aggregate_into, size=len(branches))
        state.group, state.status = group, j.WAITING_FOR_PARALLEL
        self.record(h.PARALLEL_DISPATCHED, group_id=group.id, branches=len(branches))
        start = GroupStart(group_id=group.id, job_id=state.id, branches=branches, step=state.transitions)
        self.out.append(Outgoing(routes.AGGREGATOR, envelope(group.id, start, self.now, id=f"group-start:{group.id}")))

    async def aggregate_done(self, msg: AggregateDone) -> bool:
        """Run the aggregator of ``aggregate_into`` with the results; stale or repeated ones do nothing."""
        group = self.state.group
        if group is None or group.id != msg.group_id or group.results is not None:
            return False
        group.results = msg.results
        if msg.files:  # what the branches' workers uploaded, each under its branch's key
            self.state.data_metadata = {**(self.state.data_metadata or {}), **msg.files}
        self.state.status = j.RUNNING
        self.record(h.PARALLEL_DONE, group_id=group.id)
        await self.advance()
        return True

    # -- waiting for a person -----------------------------------------------------------------

    def await_approval(self, action: AwaitApproval) -> None:
        """Wait in ``waiting_for_human`` with a fresh single-use token; the owner learns it from
        the job's status and the ``job_waiting_for_human`` webhook event."""
        state = self.state
        expires = None if action.timeout is None else self.now + action.timeout
        state.approval = Approval(
            id=new_id(),
            integration=action.integration,
            message=action.message,
            transitions=action.transitions,
            token=secrets.token_urlsafe(32),
            requested_at=self.now,
            expires_at=expires,
        )
        state.status = j.WAITING_FOR_HUMAN
        self.record(h.APPROVAL_REQUESTED, integration=action.integration, decisions=sorted(action.transitions))
        if expires is not None:
            self.defer(Timeout("approval", state.approval.id), expires)
        if state.webhook_url:
            waiting = webhooks.job_event(state, "job_waiting_for_human", self.now, approval=state.approval.view())
            self.out.append(waiting)

    async def decided(self, msg: Decision) -> bool:
        approval = self.state.approval
        if approval is None or approval.id != msg.approval_id or msg.decision not in approval.transitions:
            return False
        self.state.approval = None
        self.record(h.APPROVAL_DECIDED, decision=msg.decision, by=msg.by, decided_at=msg.at)
        await self.follow(approval.transitions[msg.decision])
        return True

    async def approval_expired(self) -> None:
        approval = self.state.approval
        assert approval is not None  # ``awaited`` names an approval deadline only while one waits
        self.state.approval = None
        self.record(h.APPROVAL_TIMED_OUT, integration=approval.integration)
        if "timeout" in approval.transitions:
            await self.follow(approval.transitions["timeout"])
        else:
            self.fail(f"no decision on {approval.integration!r} approval before its timeout")

    # -- child jobs -----------------------------------------------------------------------------

    async def run_child(self, action: RunBlueprint) -> None:
        """Start a child job of ``action.blueprint`` and wait in ``waiting_for_sub_job``; the
        child reports its end with one ``ChildEnded`` (its envelope id names the child). Its
        ``initial_data`` goes through the claim check, into the child's own prefix."""
        state = self.state
        if state.depth + 1 > self.policy.max_child_depth:
            self.fail(f"run_blueprint({action.blueprint!r}) would nest deeper than {self.policy.max_child_depth} jobs")
            return
        child = ChildRef(id=new_id(), blueprint=action.blueprint, transitions=action.transitions)
        state.child, state.child_result, state.status = child, None, j.WAITING_FOR_CHILD
        start = StartChild(
            parent_id=state.id,
            blueprint=action.blueprint,
            initial_data=await o.check_in(self.objects, child.id, "initial_data", action.initial_data),
            client_id=state.client_id,
            client_plan=state.client_plan,
            client_params=state.client_params,
            depth=state.depth + 1,
            max_transitions=state.max_transitions,
            dispatch_timeout=state.dispatch_timeout,
            result_timeout=state.result_timeout,
            security=state.security,
            metadata=state.metadata,
            allowed_skills=state.allowed_skills,
        )
        self.out.append(Outgoing(routes.JOBS, envelope(child.id, start, self.now, id=f"child-start:{child.id}")))
        self.record(h.CHILD_STARTED, child_job_id=child.id, blueprint=action.blueprint)

    async def child_ended(self, msg: ChildEnded) -> bool:
        child = self.state.child
        if child is None or child.id != msg.child_id:
            return False
        self.state.child = None
        outcome = "success" if msg.status == j.FINISHED else "failure"
        self.state.child_result = {
            "job_id": child.id,
            "blueprint": child.blueprint,
            "status": msg.status,
            "result": msg.result,
            "error": msg.error,
        }
        self.record(h.CHILD_ENDED, child_job_id=child.id, status=msg.status)
        if outcome not in child.transitions:
            ended = f"child job {child.id} ({child.blueprint!r}) ended {msg.status}"
            self.fail(f"{ended}; run_blueprint has no {outcome!r} transition")
            return True
        await self.follow(child.transitions[outcome])
        return True

    # -- redrive ------------------------------------------------------------------------------

    async def redrive(self, msg: Redrive) -> bool:
        """Run a failed or quarantined job again from the state it stopped in: its handler runs
        afresh (a task it had dispatched is dispatched again, with a new id)."""
        state = self.state
        self.record(h.JOB_REDRIVEN, previous_status=state.status, error=state.error, by=msg.requested_by)
        state.status, state.error, state.finished_at, state.step_attempt = j.RUNNING, None, None, 0
        state.task = state.approval = state.child = None
        if state.group is not None and state.group.results is None:
            state.group = None  # a group with its results stays: the aggregator that raised runs again
        await self.advance()
        return True

    # -- ending ---------------------------------------------------------------------------

    def fail(self, error: str) -> None:
        self.end(j.FAILED, error)

    def end(self, status: str, error: str | None = None) -> None:
        """End the job: stop what it waits on (its task's worker if cancelled, its fan-out group,
        its child job), tell its parent and its webhook."""
        state = self.state
        if status == j.CANCELLED and state.task is not None and (notice := tasks.stop_notice(state.task, state.id)):
            self.stopped.append(notice)
        state.status, state.error, state.finished_at, state.task = status, error, self.now, None
        self.record(h.JOB_ENDED, status=status, error=error)
        if state.group is not None and state.group.results is None:
            cancel = GroupCancel(group_id=state.group.id, job_id=state.id, reason=f"job {status}")
            self.out.append(Outgoing(routes.AGGREGATOR, envelope(state.group.id, cancel, self.now)))
        if state.child is not None:
            child_id, stop = state.child.id, Cancel(reason=f"parent job {state.id} {status}")
            self.out.append(Outgoing(routes.JOBS, envelope(child_id, stop, self.now, id=f"cancel:{child_id}")))
        if state.parent_id is not None:
            result = state.state_history if status == j.FINISHED else None
            ended = ChildEnded(child_id=state.id, status=status, result=result, error=error)
            # The id names the end, not just the child: a redriven child that ends again reports again.
            ended_id = f"child-ended:{state.id}:{state.version}"
            self.out.append(Outgoing(routes.JOBS, envelope(state.parent_id, ended, self.now, id=ended_id)))
        if state.webhook_url:
            result = state.state_history if status == j.FINISHED else None
            self.out.append(webhooks.job_event(state, _EVENTS[status], self.now, result=result, error=error))
        if state.parent_task is not None:
            self.answer_parent(status, error)

    def answer_parent(self, status: str, error: str | None) -> None:
        """Tell the holon the job a parent orchestrator's task created ended (ADR 0016). The id
        names the end, as a child's ``ChildEnded`` does: a redriven job that ends again reports again."""
        state = self.state
        ended = JobEvent(
            job_id=state.id,
            event=_EVENTS[status],
            status=status,
            result=state.state_history if status == j.FINISHED else None,
            error=error,
            client_id=state.client_id,
            parent_task=state.parent_task,
        )
        ended_id = f"holon-ended:{state.id}:{state.version}"
        self.out.append(Outgoing(routes.HOLON, envelope(state.id, ended, self.now, id=ended_id)))

    def defer(self, msg: Timeout, at: float) -> None:
        env = envelope(self.state.id, msg, self.now, id=deadlines.timeout_id(self.state, msg))
        self.deferred.append(Outgoing(routes.JOBS, env, at=at))


def _snapshot(history: dict[str, Any]) -> bytes:
    """A deep copy to roll back to if the handler raises (msgpack: fast, and what the store
    writes anyway, so anything it cannot encode would fail the commit too)."""
    return msgspec.msgpack.encode(history)


def fail_unrunnable(state: JobState, env: Envelope, error: str, now: float) -> JobStep:
    """Fail a job this node cannot run (its blueprint is not loaded), like any other failure,
    applying ``env``; a terminal job is left unchanged."""
    if state.terminal:
        return JobStep(changed=False)
    step = _Step(StateMachineBlueprint("unavailable"), StepPolicy(), state, now, None)
    step.fail(error)
    return step.finish(env)


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
