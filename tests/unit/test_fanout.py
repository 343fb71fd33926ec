"""Fan-out / fan-in in the engine: ``dispatch_parallel`` validation, the job's step into and out
of ``waiting_for_parallel_tasks``, and the aggregator's pure step (``engine.fanin.apply``), whose
branches follow the same rules as a job's single task (``engine.tasks``)."""

from __future__ import annotations

from typing import Any

import pytest
from rxon.constants import (
    ERROR_CODE_INVALID_INPUT,
    ERROR_CODE_PERMANENT,
    ERROR_CODE_TIMEOUT,
    ERROR_CODE_TRANSIENT,
)

from engine import ActionError, ActionFactory, BlueprintError, StateMachineBlueprint, routes
from engine import group as g
from engine import job as j
from engine.actions import Branch, DispatchParallel
from engine.fanin import abandoned, aggregate, task_of
from engine.fanin import apply as apply_group
from engine.group import (
    BranchState,
    decode_branch,
    decode_group,
    encode_branch,
    encode_group,
    new_group,
)
from engine.job import JobState, Outgoing, TaskState
from engine.messages import (
    AggregateDone,
    BranchSpec,
    Cancel,
    CancelNotice,
    GroupCancel,
    GroupStart,
    Message,
    Start,
    TaskDone,
    TaskLost,
    TaskOffer,
    TaskStarted,
    Timeout,
    decode,
    encode,
    envelope,
)
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from engine.step import apply as apply_job

NOW = 1_000.0
JOB = "job-1"
GROUP = "group-1"
POLICY = StepPolicy()


# -- dispatch_parallel: validation ---------------------------------------------------------------


def chosen(tasks: Any, aggregate_into: Any = "gather") -> DispatchParallel:
    actions = ActionFactory()
    actions.dispatch_parallel(tasks, aggregate_into)
    assert isinstance(actions.chosen, DispatchParallel)
    return actions.chosen


def test_both_task_dict_shapes_are_accepted() -> None:
    action = chosen([{"task_type": "seed_shape", "params": {"a": 1}}, {"type": "upstream_shape", "params": {"b": 2}}])

    assert action.aggregate_into == "gather"
    assert action.branches == (
        Branch("seed_shape", {"a": 1}),
        Branch("upstream_shape", {"b": 2}),
    )


def test_per_branch_options_are_kept_and_params_default_to_empty() -> None:
    [branch] = chosen(
        [{"type": "x", "priority": 5, "dispatch_timeout": 2, "result_timeout_seconds": 9, "max_attempts": 4}]
    ).branches

    assert branch == Branch("x", {}, priority=5.0, dispatch_timeout=2.0, result_timeout=9.0, max_attempts=4)


@pytest.mark.parametrize(
    ("tasks", "aggregate_into", "message"),
    [
        ([{"params": {}}], "gather", "needs a 'type'"),
        ([{"type": ""}], "gather", "needs a 'type'"),
        ([{"type": "x", "params": [1, 2]}], "gather", "params must be a dict"),
        ([], "gather", "non-empty list"),
        ("echo", "gather", "non-empty list"),
        ([{"type": "x"}], None, "aggregate_into"),
        ([{"type": "x"}], "", "aggregate_into"),
        (["echo"], "gather", "must be a dict"),
        ([{"type": "a", "task_type": "b"}], "gather", "two types"),
        ([{"type": "x", "retries": 3}], "gather", "unknown keys retries"),
        ([{"type": "x", "max_attempts": 0}], "gather", "max_attempts"),
        ([{"type": "x", "dispatch_timeout": -1}], "gather", "dispatch_timeout must be positive"),
        ([{"type": "x", "priority": "high"}], "gather", "priority must be a number"),
        ([{"type": "x", "priority": float("nan")}], "gather", "priority must be finite"),
        ([{"type": "x", "priority": float("-inf")}], "gather", "priority must be finite"),
        ([{"type": "x", "result_timeout": float("nan")}], "gather", "result_timeout must be finite"),
    ],
)
def test_a_malformed_fan_out_is_a_clear_action_error(tasks: Any, aggregate_into: Any, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        ActionFactory().dispatch_parallel(tasks, aggregate_into)


def test_a_malformed_task_names_its_position() -> None:
    with pytest.raises(ActionError, match="task #1"):
        ActionFactory().dispatch_parallel([{"type": "ok"}, {"params": {}}], "gather")


def test_dispatch_parallel_is_the_one_action_of_a_handler() -> None:
    actions = ActionFactory()
    actions.transition_to("elsewhere")
    with pytest.raises(ActionError, match="only one action"):
        actions.dispatch_parallel([{"type": "x"}], "gather")


# -- blueprint validation ------------------------------------------------------------------------


def fanout_bp(*, aggregator: bool = True, **branch: Any) -> StateMachineBlueprint:
    """start fans out three ``echo`` tasks into ``gather``, whose aggregator goes to ``done``."""
    bp = StateMachineBlueprint("fanout")
    seen: list[dict[str, Any]] = []

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, initial_data: dict[str, Any]) -> None:
        tasks = [{"type": "echo", "params": {"n": n}, **branch} for n in range(initial_data.get("k", 3))]
        actions.dispatch_parallel(tasks, aggregate_into="gather")

    if aggregator:

        @bp.aggregator_for("gather")
        async def gather(aggregation_results: dict[str, Any], context: Any, state_history: Any, actions: Any) -> None:
            seen.append(context.aggregation_results)
            state_history["statuses"] = sorted(r["status"] for r in aggregation_results.values())
            actions.transition_to("done")

    else:

        @bp.handler_for("gather")
        async def not_an_aggregator(actions: Any) -> None:
            actions.transition_to("done")

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    bp.seen = seen  # type: ignore[attr-defined]  # what the aggregator was given, for the tests
    return bp


def test_aggregate_into_a_state_with_an_aggregator_validates() -> None:
    BlueprintRegistry().register(fanout_bp())


def test_aggregate_into_a_state_without_an_aggregator_is_refused_at_registration() -> None:
    with pytest.raises(BlueprintError, match="'gather', which has no @aggregator_for handler"):
        BlueprintRegistry().register(fanout_bp(aggregator=False))


def test_the_upstream_aggregator_decorator_counts_too() -> None:
    bp = StateMachineBlueprint("upstream")

    @bp.handler(is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_parallel([{"type": "x"}], aggregate_into="collect")

    @bp.aggregator
    async def collect(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler(is_end=True)
    async def end() -> None:
        pass

    BlueprintRegistry().register(bp)


# -- the job's side ------------------------------------------------------------------------------


def new_job(bp: StateMachineBlueprint, **fields: Any) -> JobState:
    fields.setdefault("initial_data", {})
    return JobState(
        id=JOB, blueprint=bp.name, client_id="c", current_state=bp.start_state, created_at=NOW, updated_at=NOW, **fields
    )


async def send_job(
    bp: StateMachineBlueprint, state: JobState, body: Message, *, id: str | None = None
) -> list[Outgoing]:
    step = await apply_job(bp, POLICY, state, envelope(state.id, body, NOW, id=id), NOW)
    return step.out + step.deadlines


async def fanned_out(bp: StateMachineBlueprint, **fields: Any) -> tuple[JobState, GroupStart, list[Outgoing]]:
    state = new_job(bp, **fields)
    out = await send_job(bp, state, Start())
    [effect] = out
    assert isinstance(effect.envelope.body, GroupStart)
    return state, effect.envelope.body, out


async def test_fan_out_waits_for_parallel_tasks_and_sends_one_group_start() -> None:
    bp = fanout_bp()
    state, start, [effect] = await fanned_out(bp, initial_data={"k": 3})

    assert state.status == j.WAITING_FOR_PARALLEL == "waiting_for_parallel_tasks"
    assert state.current_state == "gather"
    assert state.task is None
    assert state.group is not None
    assert (state.group.id, state.group.aggregate_into, state.group.size) == (start.group_id, "gather", 3)
    assert effect.route == routes.AGGREGATOR
    assert effect.at is None
    assert effect.envelope.key == start.group_id
    assert start.job_id == JOB
    assert [b.params for b in start.branches] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({b.task_id for b in start.branches}) == 3


async def test_branch_options_fall_back_to_the_job_then_the_policy() -> None:
    bp = fanout_bp(max_attempts=5)
    _, start, _ = await fanned_out(bp, initial_data={"k": 1}, dispatch_timeout=7.0)

    [branch] = start.branches
    assert branch.max_attempts == 5
    assert branch.dispatch_timeout == 7.0  # the job's
    assert branch.result_timeout == POLICY.result_timeout  # the policy's


async def test_a_fan_out_with_a_branch_outside_allowed_skills_fails_the_job_and_starts_no_group() -> None:
    bp = fanout_bp()
    state = new_job(bp, initial_data={"k": 2}, allowed_skills=["resize"])
    out = await send_job(bp, state, Start())
    assert not any(isinstance(o.envelope.body, GroupStart) for o in out)
    assert state.status == j.FAILED
    assert state.error == "policy.allowed_skills does not allow task type 'echo' (allowed: 'resize')"


async def test_aggregating_into_a_computed_state_without_aggregator_fails_the_job() -> None:
    bp = StateMachineBlueprint("computed")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any, initial_data: dict[str, Any]) -> None:
        actions.dispatch_parallel([{"type": "x"}], aggregate_into=initial_data["target"])

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state = new_job(bp, initial_data={"target": "end"})
    out = await send_job(bp, state, Start())

    assert state.status == j.FAILED
    assert state.error is not None
    assert "'end', which has no aggregator" in state.error
    assert out == []


def results_with_a_failed_branch() -> dict[str, dict[str, Any]]:
    return {
        "t1": {"status": "success", "data": {"n": 1}, "error": None},
        "t2": {"status": "failure", "data": None, "error": {"code": ERROR_CODE_INVALID_INPUT, "message": "bad n"}},
    }


async def test_aggregate_done_runs_the_aggregator_with_the_results_and_the_job_goes_on() -> None:
    bp = fanout_bp()
    state, start, _ = await fanned_out(bp)
    results = results_with_a_failed_branch()

    await send_job(bp, state, AggregateDone(start.group_id, results))

    assert bp.seen == [results]  # type: ignore[attr-defined]  # context.aggregation_results, too
    assert state.state_history["statuses"] == ["failure", "success"]
    assert state.status == j.FINISHED
    assert state.current_state == "done"
    assert state.group is None


async def test_the_branches_files_join_the_jobs_data_metadata() -> None:
    bp = fanout_bp()
    state, start, _ = await fanned_out(bp)
    state.data_metadata = {"before": {"uri": "s3://b/job/before.txt"}}
    files = {"t1.out": {"uri": "s3://b/job/t1.png", "size": 3}}

    await send_job(bp, state, AggregateDone(start.group_id, results_with_a_failed_branch(), files=files))

    assert state.data_metadata == {"before": {"uri": "s3://b/job/before.txt"}, **files}


async def test_aggregate_done_of_another_group_or_twice_changes_nothing() -> None:
    bp = fanout_bp()
    state, start, _ = await fanned_out(bp)

    assert await send_job(bp, state, AggregateDone("other-group", {})) == []
    assert state.status == j.WAITING_FOR_PARALLEL

    await send_job(bp, state, AggregateDone(start.group_id, {}))
    await send_job(bp, state, AggregateDone(start.group_id, {"late": {}}))
    assert bp.seen == [{}]  # type: ignore[attr-defined]


async def test_an_aggregator_that_raises_is_retried_with_the_same_results() -> None:
    bp = StateMachineBlueprint("flaky")
    calls: list[dict[str, Any]] = []

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_parallel([{"type": "x"}], aggregate_into="gather")

    @bp.aggregator_for("gather")
    async def gather(aggregation_results: dict[str, Any], actions: Any) -> None:
        calls.append(aggregation_results)
        if len(calls) == 1:
            raise RuntimeError("flaky")
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    state, fan, _ = await fanned_out(bp)
    out = await send_job(bp, state, AggregateDone(fan.group_id, {"t": {"status": "success"}}))
    [retry] = [o.envelope.body for o in out if o.at is not None]
    assert state.status == j.RUNNING

    await send_job(bp, state, retry)

    assert calls == [{"t": {"status": "success"}}] * 2
    assert state.status == j.FINISHED


async def test_cancel_during_fan_out_tells_the_group_and_ignores_its_late_aggregate() -> None:
    bp = fanout_bp()
    state, start, _ = await fanned_out(bp)

    [effect] = await send_job(bp, state, Cancel())

    assert state.status == j.CANCELLED
    assert effect.route == routes.AGGREGATOR
    assert effect.envelope.key == start.group_id
    assert effect.envelope.body == GroupCancel(start.group_id, JOB, "job cancelled")
    assert await send_job(bp, state, AggregateDone(start.group_id, {})) == []
    assert state.status == j.CANCELLED
    assert bp.seen == []  # type: ignore[attr-defined]


# -- the aggregator's step -----------------------------------------------------------------------


def group_start(k: int = 3, **options: Any) -> GroupStart:
    branches = [BranchSpec(task_id=f"t{n}", type="echo", params={"n": n}, **options) for n in range(k)]
    return GroupStart(group_id=GROUP, job_id=JOB, branches=branches, step=4)


class Group:
    """A group's header and its branches, stored as the aggregator actor stores them (by key, with
    retried task ids pointing at their branch), and handed to the pure step as the actor does."""

    def __init__(self, first: GroupStart | GroupCancel) -> None:
        self.header = new_group(first, NOW)
        self.stored: dict[str, BranchState] = {}
        self.retried: dict[str, str] = {}

    @property
    def status(self) -> str:
        return self.header.status

    @property
    def branches(self) -> list[BranchState]:
        return sorted(self.stored.values(), key=lambda b: b.index)

    def branch(self, task_id: str | None) -> BranchState | None:
        if task_id is None or self.header.terminal or not self.header.offered:
            return None
        return self.stored.get(self.retried.get(task_id, task_id))

    def send(self, body: Message, now: float, id: str | None) -> list[Outgoing]:
        step = apply_group(POLICY, self.header, self.branch(task_of(body)), envelope(GROUP, body, now, id=id), now)
        for branch in step.written:
            self.stored[branch.key] = branch
            self.retried[branch.task.id] = branch.key
        if step.complete:
            step.out.append(aggregate(self.header, self.branches, now))
        return step.out


def send_group(group: Group, body: Message, *, now: float = NOW, id: str | None = None) -> list[Outgoing]:
    return group.send(body, now, id)


def started_group(k: int = 3, **options: Any) -> tuple[Group, list[Outgoing]]:
    start = group_start(k, **options)
    group = Group(start)
    return group, send_group(group, start)


def group_offers(out: list[Outgoing]) -> list[TaskOffer]:
    found = []
    for o in out:
        if isinstance(o.envelope.body, TaskOffer):
            assert (o.route, o.at, o.envelope.key) == (routes.ROUTER, None, o.envelope.body.type)
            found.append(o.envelope.body)
    return found


def group_deadlines(out: list[Outgoing]) -> list[tuple[Timeout, float]]:
    found = []
    for o in out:
        if o.at is not None:
            assert (o.route, o.envelope.key) == (routes.AGGREGATOR, GROUP)
            assert isinstance(o.envelope.body, Timeout)
            found.append((o.envelope.body, o.at))
    return found


def aggregates(out: list[Outgoing]) -> list[AggregateDone]:
    found = []
    for o in out:
        if isinstance(o.envelope.body, AggregateDone):
            assert (o.route, o.envelope.key, o.envelope.id) == (routes.JOBS, JOB, f"aggregate:{GROUP}")
            found.append(o.envelope.body)
    return found


def test_group_start_offers_every_branch_once_tagged_with_the_group() -> None:
    group, out = started_group(3, dispatch_timeout=5.0)

    offered = group_offers(out)
    assert [(o.task_id, o.job_id, o.group_id, o.step, o.params) for o in offered] == [
        (f"t{n}", JOB, GROUP, 4, {"n": n}) for n in range(3)
    ]
    assert group_deadlines(out) == [(Timeout("dispatch", f"t{n}"), NOW + 5.0) for n in range(3)]
    assert send_group(group, group_start(3)) == []  # a second start offers nothing


def test_k_results_produce_exactly_one_aggregate_done_with_every_result() -> None:
    group, _ = started_group(3)

    outs = [send_group(group, TaskDone(f"t{n}", data={"n": n * 10})) for n in range(3)]

    assert [aggregates(out) for out in outs[:2]] == [[], []]
    [done] = aggregates(outs[2])
    assert done.group_id == GROUP
    assert done.results == {f"t{n}": {"status": "success", "data": {"n": n * 10}, "error": None} for n in range(3)}
    assert group.status == g.DONE
    assert send_group(group, TaskDone("t0", data={"again": 1})) == []


def test_a_branch_result_before_its_pickup_settles_the_branch_and_the_late_pickup_is_ignored() -> None:
    group, _ = started_group(2, result_timeout=10.0)

    out = send_group(group, TaskDone("t0", "w1", data={"n": 1}), now=NOW + 2)

    assert group_deadlines(out) == []  # settled: no result deadline
    [branch] = [b for b in group.branches if b.task.id == "t0"]
    assert (branch.task.worker_id, branch.task.started_at) == ("w1", NOW + 2)
    assert branch.result == {"status": "success", "data": {"n": 1}, "error": None}
    assert send_group(group, TaskStarted("t0", "w1", at=NOW + 1), now=NOW + 3) == []
    [done] = aggregates(send_group(group, TaskDone("t1", "w2")))
    assert set(done.results) == {"t0", "t1"}


def test_a_custom_status_is_recorded_as_the_branch_status() -> None:
    group, _ = started_group(1)

    [done] = aggregates(send_group(group, TaskDone("t0", status="needs_review", data={"x": 1})))

    assert done.results["t0"] == {"status": "needs_review", "data": {"x": 1}, "error": None}


def test_a_branch_that_fails_settles_as_failure_and_the_group_still_completes() -> None:
    group, _ = started_group(2)
    send_group(group, TaskDone("t0", data={"ok": True}))

    out = send_group(group, TaskDone("t1", status="failure", error_code=ERROR_CODE_INVALID_INPUT, error_message="no"))

    [done] = aggregates(out)
    failed = done.results["t1"]
    assert failed["status"] == "failure"
    assert failed["data"] is None
    assert failed["error"]["code"] == ERROR_CODE_INVALID_INPUT
    assert "no" in failed["error"]["message"]


def test_a_group_cancelled_before_its_start_offers_nothing() -> None:
    cancel = GroupCancel(GROUP, JOB, "job cancelled")
    group = Group(cancel)
    assert group.status == g.CANCELLED

    assert send_group(group, group_start(3)) == []


def test_cancelling_a_running_group_names_the_workers_of_its_unsettled_branches() -> None:
    group, _ = started_group(4)
    send_group(group, TaskStarted("t0", "w0", at=NOW))
    send_group(group, TaskStarted("t1", "w1", at=NOW))
    send_group(group, TaskDone("t1", "w1"))  # settled: nothing runs it any more
    send_group(group, TaskDone("t2", error_code=ERROR_CODE_TRANSIENT))  # waits out a back-off

    step = apply_group(POLICY, group.header, None, envelope(GROUP, GroupCancel(GROUP, JOB), NOW), NOW)

    assert step.cancelled
    # t3 was offered, its pickup not heard of: the actor looks its worker up in the lease
    assert abandoned(group.header, group.branches) == [CancelNotice(JOB, "t0", "w0"), CancelNotice(JOB, "t3")]


def test_a_group_cancelled_before_its_start_or_again_asks_for_no_announcement() -> None:
    tombstone = new_group(GroupCancel(GROUP, JOB), NOW)
    again = apply_group(POLICY, tombstone, None, envelope(GROUP, GroupCancel(GROUP, JOB), NOW), NOW)
    assert not again.cancelled


def test_a_cancelled_group_ignores_results_and_deadlines() -> None:
    group, _ = started_group(2, dispatch_timeout=1.0)
    send_group(group, GroupCancel(GROUP, JOB))

    assert send_group(group, TaskDone("t0")) == []
    assert send_group(group, Timeout("dispatch", "t1"), now=NOW + 2) == []
    assert group.status == g.CANCELLED


def test_group_state_round_trips() -> None:
    group, _ = started_group(2)
    send_group(group, TaskStarted("t0", "w1", at=NOW))

    assert decode_group(encode_group(group.header)) == group.header
    assert [decode_branch(encode_branch(b)) for b in group.branches] == group.branches


def test_the_header_counts_settled_branches_and_each_message_writes_at_most_one_branch() -> None:
    start = group_start(3)
    header = new_group(start, NOW)
    assert (header.size, header.settled) == (3, 0)
    first = apply_group(POLICY, header, None, envelope(GROUP, start, NOW), NOW)
    assert [b.key for b in first.written] == ["t0", "t1", "t2"]
    [t0, t1, _] = first.written

    picked = apply_group(POLICY, header, t0, envelope(GROUP, TaskStarted("t0", "w1", at=NOW), NOW), NOW)
    done = apply_group(POLICY, header, t0, envelope(GROUP, TaskDone("t0", "w1"), NOW), NOW)
    again = apply_group(POLICY, header, t0, envelope(GROUP, TaskDone("t0", "w1"), NOW), NOW)
    stranger = apply_group(POLICY, header, t1, envelope(GROUP, TaskDone("t1", "w9"), NOW), NOW)

    assert (picked.written, done.written) == ([t0], [t0])
    assert again.written == [] and again.out == []  # a settled branch: nothing to write
    assert [b.key for b in stranger.written] == ["t1"]  # not picked up yet: anyone's result counts
    assert (header.settled, header.status) == (2, g.RUNNING)
    assert not (first.complete or picked.complete or done.complete or stranger.complete)


def test_only_the_message_that_settles_the_last_branch_completes_the_group() -> None:
    group, _ = started_group(2)
    send_group(group, TaskDone("t0"))
    last = apply_group(POLICY, group.header, group.branch("t1"), envelope(GROUP, TaskDone("t1"), NOW), NOW)

    assert last.complete
    assert last.out == []  # the caller adds the AggregateDone, from every branch
    assert group.header.status == g.DONE
    late = apply_group(POLICY, group.header, None, envelope(GROUP, TaskDone("t1"), NOW), NOW)
    assert not late.complete


def test_an_empty_group_completes_on_its_start() -> None:
    group, out = started_group(0)

    [done] = aggregates(out)
    assert done.results == {}
    assert group.status == g.DONE


def test_aggregate_lists_results_in_branch_order_the_later_occurrence_winning() -> None:
    header = new_group(group_start(2), NOW)
    a, b = (BranchState(key=k, index=i, task=task_state(k), result=result(k)) for i, k in enumerate(["zz", "aa"]))
    newer_a = BranchState(key="zz", index=0, task=task_state("zz"), result=result("newer"))

    done = aggregate(header, [b, a, newer_a], NOW).envelope.body

    assert isinstance(done, AggregateDone)
    assert list(done.results) == ["zz", "aa"]
    assert done.results["zz"] == result("newer")


def task_state(task_id: str) -> TaskState:
    return TaskState(id=task_id, type="echo", params={}, transitions={})


def result(tag: str) -> dict[str, Any]:
    return {"status": "success", "data": {"tag": tag}, "error": None}


# -- one rule for a job's task and a group's branch -----------------------------------------------


def single_task_bp(**dispatch: Any) -> StateMachineBlueprint:
    bp = StateMachineBlueprint("single")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("echo", {"n": 0}, transitions={"success": "done"}, **dispatch)

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    return bp


class Both:
    """Drive a job's single task and a one-branch group through the same messages."""

    def __init__(self, **options: Any) -> None:
        self.bp = single_task_bp(**options)
        self.job = new_job(self.bp)
        self.group, _ = started_group(1, **{"max_attempts": 3, **options})
        self.job_task = ""

    async def start(self) -> None:
        [effect] = [o for o in await send_job(self.bp, self.job, Start()) if o.at is None]
        assert isinstance(effect.envelope.body, TaskOffer)
        self.job_task = effect.envelope.body.task_id

    async def send(self, make: Any, now: float = NOW) -> tuple[list[Outgoing], list[Outgoing]]:
        """``make(task_id)`` builds the message for each side's current task id."""
        job_step = await apply_job(self.bp, POLICY, self.job, envelope(JOB, make(self.job_task), now), now)
        job_out = job_step.out + job_step.deadlines
        group_out = send_group(self.group, make("t0"), now=now)
        return job_out, group_out


@pytest.mark.parametrize(
    ("code", "job_status"), [(ERROR_CODE_INVALID_INPUT, j.FAILED), (ERROR_CODE_PERMANENT, j.QUARANTINED)]
)
async def test_a_final_error_ends_the_job_and_settles_the_branch_as_failure(code: str, job_status: str) -> None:
    both = Both()
    await both.start()

    _, group_out = await both.send(lambda t: TaskDone(t, status="failure", error_code=code, error_message="m"))

    assert both.job.status == job_status
    [done] = aggregates(group_out)
    assert done.results["t0"]["error"]["code"] == code
    assert both.group.branches[0].result is not None


async def test_a_retryable_error_retries_both_under_a_new_id_with_the_same_backoff() -> None:
    both = Both()
    await both.start()

    job_out, group_out = await both.send(lambda t: TaskDone(t, status="failure", error_code=ERROR_CODE_TRANSIENT))

    job_task, branch_task = both.job.task, both.group.branches[0].task
    assert job_task is not None
    assert (job_task.attempt, branch_task.attempt) == (2, 2)
    assert job_task.waiting_retry and branch_task.waiting_retry
    assert branch_task.id != "t0"
    [(timeout, at)] = group_deadlines(group_out)
    assert timeout == Timeout("retry_task", branch_task.id)
    assert at == NOW + POLICY.backoff(1, "t0")  # salted by the branch key, as a job's is by its id
    assert [o.envelope.body for o in job_out if o.at is not None] == [Timeout("retry_task", job_task.id)]

    [again] = group_offers(send_group(both.group, timeout, now=at))
    assert (again.task_id, again.group_id) == (branch_task.id, GROUP)
    assert send_group(both.group, TaskDone("t0", data={"late": True})) == []  # the old attempt is stale


async def test_exhausted_retries_quarantine_the_job_and_fail_the_branch() -> None:
    both = Both(max_attempts=1)
    await both.start()

    _, group_out = await both.send(lambda t: TaskDone(t, status="failure", error_code=ERROR_CODE_TRANSIENT))

    assert both.job.status == j.QUARANTINED
    [done] = aggregates(group_out)
    assert done.results["t0"]["status"] == "failure"
    assert done.results["t0"]["error"]["code"] == ERROR_CODE_TRANSIENT
    assert "gave up after 1 attempts" in done.results["t0"]["error"]["message"]


async def test_dispatch_timeout_before_pickup_fails_both() -> None:
    both = Both(dispatch_timeout=5.0)
    await both.start()

    _, group_out = await both.send(lambda t: Timeout("dispatch", t), now=NOW + 5)

    assert both.job.status == j.FAILED
    [done] = aggregates(group_out)
    assert done.results["t0"]["error"]["code"] == ERROR_CODE_TIMEOUT
    assert "no worker with skill 'echo'" in done.results["t0"]["error"]["message"]


async def test_result_timeout_after_pickup_retries_both() -> None:
    both = Both(result_timeout=10.0)
    await both.start()
    job_out, group_out = await both.send(lambda t: TaskStarted(t, "w1", at=NOW))
    assert [o.envelope.body for o in job_out] == [Timeout("result", both.job_task)]
    assert group_deadlines(group_out) == [(Timeout("result", "t0"), NOW + 10.0)]

    await both.send(lambda t: Timeout("result", t), now=NOW + 10)

    assert both.job.task is not None
    assert both.job.task.attempt == both.group.branches[0].task.attempt == 2
    assert both.group.branches[0].result is None


async def test_duplicate_pickup_and_a_stranger_s_result_are_ignored_by_both() -> None:
    both = Both()
    await both.start()
    await both.send(lambda t: TaskStarted(t, "w1", at=NOW))

    assert await both.send(lambda t: TaskStarted(t, "w2", at=NOW)) == ([], [])
    assert await both.send(lambda t: TaskDone(t, "w2", data={"x": 1})) == ([], [])
    assert both.job.status == j.WAITING_FOR_WORKER
    assert both.group.branches[0].result is None


async def test_a_worker_that_gives_the_task_up_is_retried_by_both() -> None:
    both = Both()
    await both.start()

    await both.send(lambda t: TaskDone(t, "w1", status="cancelled"))

    assert both.job.task is not None
    assert both.job.task.attempt == both.group.branches[0].task.attempt == 2


# -- a lost lease (the worker stopped heartbeating): one rule for both ----------------------------


async def test_a_lost_task_is_retried_by_both_under_a_new_id_counting_an_attempt() -> None:
    both = Both()
    await both.start()
    first_job_task = both.job_task
    await both.send(lambda t: TaskStarted(t, "w1", at=NOW))

    job_out, group_out = await both.send(lambda t: TaskLost(t, "w1"), now=NOW + 60)

    job_task, branch_task = both.job.task, both.group.branches[0].task
    assert job_task is not None
    assert (job_task.attempt, branch_task.attempt) == (2, 2)
    assert (job_task.worker_id, branch_task.worker_id) == (None, None)
    assert job_task.id != first_job_task
    assert branch_task.id != "t0"
    assert both.job.status == j.WAITING_FOR_WORKER
    assert both.job.error == "worker w1 stopped heartbeating task 'echo': its lease expired"
    assert [(o.envelope.body, o.at) for o in job_out] == [
        (Timeout("retry_task", job_task.id), NOW + 60 + POLICY.backoff(1, JOB))
    ]
    [(timeout, at)] = group_deadlines(group_out)
    assert (timeout, at) == (Timeout("retry_task", branch_task.id), NOW + 60 + POLICY.backoff(1, "t0"))

    [again] = group_offers(send_group(both.group, timeout, now=at))
    assert again.task_id == branch_task.id
    late = TaskDone(first_job_task, "w1", data={"late": True})
    assert await send_job(both.bp, both.job, late) == []  # the lost worker's late result is stale
    assert send_group(both.group, TaskDone("t0", "w1", data={"late": True})) == []


async def test_a_stale_task_lost_changes_nothing_for_either() -> None:
    both = Both()
    await both.start()
    await both.send(lambda t: TaskStarted(t, "w1", at=NOW))

    assert await both.send(lambda t: TaskLost(t, "w2")) == ([], [])  # another worker's lease
    assert await both.send(lambda t: TaskLost("some-other-task", "w1")) == ([], [])
    old_job_task = both.job_task
    await both.send(lambda t: TaskDone(t, "w1", error_code=ERROR_CODE_TRANSIENT))  # retried: waits a back-off
    job_task, branch_task = both.job.task, both.group.branches[0].task
    assert job_task is not None

    assert await send_job(both.bp, both.job, TaskLost(old_job_task, "w1")) == []
    assert await send_job(both.bp, both.job, TaskLost(job_task.id, "w1")) == []  # not offered yet
    assert send_group(both.group, TaskLost("t0", "w1")) == []
    assert send_group(both.group, TaskLost(branch_task.id, "w1")) == []
    assert (job_task.attempt, branch_task.attempt) == (2, 2)


async def test_a_task_whose_pickup_never_reached_its_owner_is_retried_when_its_lease_is_lost() -> None:
    """The gateway took the task for w1 and died before announcing ``TaskStarted``: nobody runs it."""
    both = Both()
    await both.start()

    await both.send(lambda t: TaskLost(t, "w1"), now=NOW + 60)

    assert both.job.task is not None
    assert both.job.task.attempt == both.group.branches[0].task.attempt == 2


async def test_a_task_lost_on_its_last_attempt_gives_up_in_both() -> None:
    both = Both(max_attempts=1)
    await both.start()
    await both.send(lambda t: TaskStarted(t, "w1", at=NOW))

    _, group_out = await both.send(lambda t: TaskLost(t, "w1"), now=NOW + 60)

    assert both.job.status == j.QUARANTINED
    assert both.job.error is not None
    assert "lease expired (gave up after 1 attempts)" in both.job.error
    [done] = aggregates(group_out)
    assert done.results["t0"]["status"] == "failure"
    assert done.results["t0"]["error"]["code"] == ERROR_CODE_TIMEOUT
    assert "w1 stopped heartbeating" in done.results["t0"]["error"]["message"]


def test_task_lost_round_trips_in_its_envelope() -> None:
    env = envelope(GROUP, TaskLost("t0", "w1"), NOW, id="lost:t0")

    assert decode(encode(env)) == env
