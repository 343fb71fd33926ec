"""The step function: (job state, message) -> mutated state + messages to publish.

``apply`` runs blueprint handlers but performs no I/O of its own: the caller (the job actor)
commits the mutated state with a compare-and-set and only then publishes the returned
``Outgoing`` effects, then acks. A handler may therefore run more than once for one step if a
node dies before the commit (at-least-once handlers, effectively-once state).

Nothing changes a terminal job: a cancelled job never comes back to life.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine import job as j
from engine import routes
from engine.actions import ActionFactory, DispatchTask, Transition
from engine.blueprint import StateMachineBlueprint
from engine.context import ClientInfo, JobContext
from engine.errors import ActionError, InjectionError
from engine.job import JobState, Outgoing, TaskState
from engine.messages import (
    Cancel,
    Envelope,
    JobEvent,
    Message,
    Start,
    TaskDone,
    TaskOffer,
    TaskStarted,
    Timeout,
    envelope,
    new_id,
)
from engine.policy import FAIL_JOB, QUARANTINE, StepPolicy

_EVENTS = {
    j.FINISHED: "job_finished",
    j.FAILED: "job_failed",
    j.QUARANTINED: "job_quarantined",
    j.CANCELLED: "job_cancelled",
}


async def apply(
    bp: StateMachineBlueprint, policy: StepPolicy, state: JobState, env: Envelope, now: float
) -> list[Outgoing]:
    """Apply ``env`` to ``state`` in place and return what must be published after the commit."""
    step = _Step(bp, policy, state, now)
    if not state.terminal:
        await step.handle(env.body)
    state.remember(env.id)
    state.updated_at = now
    return step.out


class _Step:
    def __init__(self, bp: StateMachineBlueprint, policy: StepPolicy, state: JobState, now: float) -> None:
        self.bp, self.policy, self.state, self.now = bp, policy, state, now
        self.out: list[Outgoing] = []

    async def handle(self, msg: Message) -> None:
        if isinstance(msg, Start):
            if self.state.status == j.PENDING:
                self.state.status = j.RUNNING
                await self.advance()
        elif isinstance(msg, TaskStarted):
            self.task_started(msg)
        elif isinstance(msg, TaskDone):
            await self.task_done(msg)
        elif isinstance(msg, Timeout):
            await self.timeout(msg)
        elif isinstance(msg, Cancel):
            self.end(j.CANCELLED, msg.reason)

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
                self.dispatch(action)
                return
            else:
                self.fail(f"the handler of state {self.state.current_state!r} chose no action")

    async def run_handler(self) -> ActionFactory | None:
        """Call the handler of the current state; None when the step cannot go on now."""
        state = self.state
        ctx = self.context()
        handler = self.bp.find_handler(state.current_state, ctx.condition_root())
        if handler is None:
            self.fail(f"no handler of state {state.current_state!r} matches the job")
            return None
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
        state.step_attempt, state.error = 0, None
        return ctx.actions

    def context(self) -> JobContext:
        s = self.state
        return JobContext(
            job_id=s.id,
            current_state=s.current_state,
            initial_data=s.initial_data,
            state_history=s.state_history,
            actions=ActionFactory(),
            client=ClientInfo(s.client_id),
            data_stores=self.bp.data_stores,
            webhook_url=s.webhook_url,
        )

    def retry_step(self, exc: Exception) -> None:
        state = self.state
        state.step_attempt += 1
        error = f"handler of state {state.current_state!r} raised {type(exc).__name__}: {exc}"
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
        state.current_state = target
        state.error = None

    # -- tasks ----------------------------------------------------------------------------

    def dispatch(self, action: DispatchTask) -> None:
        state = self.state
        state.task = TaskState(
            id=new_id(),
            type=action.task_type,
            params=action.params,
            transitions=action.transitions,
            max_attempts=action.max_attempts or self.policy.task_max_attempts,
            priority=action.priority,
            dispatch_timeout=_first(action.dispatch_timeout, state.dispatch_timeout, self.policy.dispatch_timeout),
            result_timeout=_first(action.result_timeout, state.result_timeout, self.policy.result_timeout),
        )
        state.status = j.WAITING_FOR_WORKER
        self.offer(state.task)

    def offer(self, task: TaskState) -> None:
        task.dispatched_at = self.now
        offer = TaskOffer(
            job_id=self.state.id,
            task_id=task.id,
            type=task.type,
            params=task.params,
            priority=task.priority,
            step=self.state.transitions,
            result_timeout=task.result_timeout,
        )
        self.out.append(Outgoing(routes.ROUTER, envelope(task.type, offer, self.now)))
        if task.dispatch_timeout is not None:
            self.defer(Timeout("dispatch", task.id), self.now + task.dispatch_timeout)

    def task_started(self, msg: TaskStarted) -> None:
        task = self.state.task
        if task is None or task.id != msg.task_id or task.worker_id is not None:
            return  # stale, or a second hand-out of the same task: its result will be refused
        task.worker_id, task.started_at = msg.worker_id, msg.at
        if task.result_timeout is not None:
            self.defer(Timeout("result", task.id), msg.at + task.result_timeout)

    async def task_done(self, msg: TaskDone) -> None:
        task = self.state.task
        if task is None or task.id != msg.task_id or task.waiting_retry:
            return
        if task.worker_id is not None and msg.worker_id is not None and msg.worker_id != task.worker_id:
            return
        described = f"task {task.type!r} failed with {msg.error_code}: {msg.error_message or 'no message'}"
        if msg.error_code in FAIL_JOB:
            self.fail(described)
        elif msg.error_code in QUARANTINE:
            self.end(j.QUARANTINED, described)
        elif msg.error_code is not None:
            await self.retry_task(described)
        elif msg.status in task.transitions:
            if msg.data:
                self.state.state_history.update(msg.data)
            await self.follow(task.transitions[msg.status])
        elif msg.status == "cancelled":
            await self.retry_task(f"worker {msg.worker_id} gave the task up")
        else:
            handled = ", ".join(sorted(task.transitions))
            self.fail(f"worker returned status {msg.status!r}; the task's transitions handle only {handled}")

    async def retry_task(self, reason: str) -> None:
        """Dispatch the task again under a new id after a back-off, or give up."""
        task = self.state.task
        assert task is not None
        if task.attempt >= task.max_attempts:
            if "failure" in task.transitions:
                await self.follow(task.transitions["failure"])
            else:
                self.end(j.QUARANTINED, f"{reason} (gave up after {task.attempt} attempts)")
            return
        self.state.error = reason
        task.attempt += 1
        task.id, task.worker_id, task.started_at, task.waiting_retry = new_id(), None, None, True
        delay = self.policy.backoff(task.attempt - 1, self.state.id)
        self.defer(Timeout("retry_task", task.id), self.now + delay)

    async def follow(self, target: str) -> None:
        self.state.task = None
        self.state.status = j.RUNNING
        self.transition(target)
        await self.advance()

    async def timeout(self, msg: Timeout) -> None:
        state, task = self.state, self.state.task
        if msg.kind == "retry_step":
            if task is None and state.status == j.RUNNING and msg.attempt == state.step_attempt:
                await self.advance()
            return
        if task is None or task.id != msg.task_id:
            return
        if msg.kind == "retry_task" and task.waiting_retry:
            task.waiting_retry = False
            self.offer(task)
        elif msg.kind == "dispatch" and task.worker_id is None and not task.waiting_retry:
            self.fail(f"no worker with skill {task.type!r} took the task within {task.dispatch_timeout:g} s")
        elif msg.kind == "result" and task.worker_id is not None:
            await self.retry_task(
                f"worker {task.worker_id} sent no result for task {task.type!r} within {task.result_timeout:g} s"
            )

    # -- ending ---------------------------------------------------------------------------

    def fail(self, error: str) -> None:
        self.end(j.FAILED, error)

    def end(self, status: str, error: str | None = None) -> None:
        state = self.state
        state.status, state.error, state.finished_at, state.task = status, error, self.now, None
        if state.webhook_url:
            event = JobEvent(
                job_id=state.id,
                event=_EVENTS[status],
                status=status,
                webhook_url=state.webhook_url,
                result=state.state_history if status == j.FINISHED else None,
                error=error,
            )
            self.out.append(Outgoing(routes.EVENTS, envelope(state.id, event, self.now)))

    def defer(self, msg: Timeout, at: float) -> None:
        self.out.append(Outgoing(routes.JOBS, envelope(self.state.id, msg, self.now), at=at))


def _snapshot(history: dict[str, Any]) -> bytes:
    """A deep copy to roll back to if the handler raises (msgpack: fast, and what the store
    writes anyway, so anything it cannot encode would fail the commit too)."""
    return msgspec.msgpack.encode(history)


def fail_unrunnable(state: JobState, error: str, now: float) -> list[Outgoing]:
    """Fail a job this node cannot run (its blueprint is not loaded), like any other failure."""
    step = _Step(StateMachineBlueprint("unavailable"), StepPolicy(), state, now)
    step.fail(error)
    return step.out


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
