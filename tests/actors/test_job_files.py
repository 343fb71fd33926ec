"""Object storage in a job's steps and afterwards: handlers get ``task_files`` and their offloaded
``initial_data`` back, large task params leave as references, and the files actor deletes a job's
objects once the job has expired, never before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.files import FilesActor, NodeFiles, Purges, purge_deadline
from actors.job import JobActor
from actors.node import Node
from actors.ports.store import WebhookDelivery
from engine import StateMachineBlueprint, routes
from engine import job as j
from engine.job import JobState
from engine.messages import PurgeFiles, Start, StartChild, TaskOffer, envelope
from engine.objects import check_in, referenced_key
from engine.policy import StepPolicy
from engine.registry import BlueprintRegistry
from tests.support.clock import FakeClock
from tests.support.waiting import Eventually
from transport.job_files import JobFiles
from transport.memory import MemoryBroker, MemoryStore
from transport.objects import ObstoreObjects, memory_objects
from transport.task_files import TaskFiles

JOB = "job-1"
TTL = 100.0


@pytest.fixture
def objects() -> ObstoreObjects:
    return memory_objects()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def files(objects: ObstoreObjects, store: MemoryStore, clock: FakeClock, tmp_path: Path) -> JobFiles:
    purges = Purges(store, clock, after=TTL)
    return JobFiles(objects, inline_limit=1024, task_files_dir=tmp_path, purges=purges)


def seed_example() -> tuple[StateMachineBlueprint, dict[str, Any]]:
    """The seed README's S3 example, after a start state that hands over to it."""
    bp = StateMachineBlueprint("files")
    seen: dict[str, Any] = {}

    @bp.handler_for("start", is_start=True)
    async def start(initial_data: dict[str, Any], task_files: Any, actions: Any) -> None:
        seen["initial_data"] = initial_data
        await task_files.write_bytes("large_dataset.csv", b"a,b\n1,2\n")
        actions.transition_to("process_data")

    @bp.handler_for("process_data")
    async def process_data(task_files: Any, actions: Any) -> None:
        local_path = await task_files.download("large_dataset.csv")
        seen["downloaded"] = local_path.read_bytes()
        seen["local_path"] = local_path
        await task_files.write_json("results.json", {"status": "done"})
        actions.transition_to("finished")

    @bp.handler_for("finished", is_end=True)
    async def finished(context: Any) -> None:
        seen["files"] = await context.task_files.list()

    return bp, seen


async def run(bp: StateMachineBlueprint, store: MemoryStore, files: JobFiles, clock: FakeClock, data: Any) -> JobState:
    registry = BlueprintRegistry()
    registry.register(bp)
    broker = MemoryBroker()
    state = JobState(
        id=JOB, blueprint=bp.name, client_id="c", current_state=bp.start_state,
        initial_data=await check_in(files, JOB, "initial_data", data), created_at=clock(), updated_at=clock(),
    )  # fmt: skip
    assert await store.create_job(state)
    actor = JobActor(registry, store, broker, StepPolicy(), clock, objects=files)
    await actor.handle(envelope(JOB, Start(), clock()))
    loaded = await store.load_job(JOB)
    assert loaded is not None
    return loaded


async def test_the_seed_task_files_example_finishes_the_job(
    store: MemoryStore, files: JobFiles, clock: FakeClock
) -> None:
    bp, seen = seed_example()
    state = await run(bp, store, files, clock, {"n": 1})

    assert state.status == j.FINISHED, state.error
    assert seen["downloaded"] == b"a,b\n1,2\n"
    assert not seen["local_path"].exists()  # the handler's scratch directory is gone
    assert seen["files"] == ["large_dataset.csv", "results.json"]
    assert await files.task_files(JOB).read_json("results.json") == {"status": "done"}


async def test_handlers_see_offloaded_initial_data_as_it_was_sent(
    store: MemoryStore, files: JobFiles, clock: FakeClock, objects: ObstoreObjects
) -> None:
    bp, seen = seed_example()
    data = {"video": "v" * 5000, "name": "clip"}
    state = await run(bp, store, files, clock, data)

    assert referenced_key(state.initial_data["video"]) is not None  # the job keeps a reference
    assert state.initial_data["name"] == "clip"
    assert seen["initial_data"] == data  # the handler sees the value
    assert [i.key for i in await objects.list(f"{JOB}/payloads/")] != []


async def test_large_task_params_leave_as_references(
    store: MemoryStore, files: JobFiles, clock: FakeClock, objects: ObstoreObjects
) -> None:
    bp = StateMachineBlueprint("big")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("echo", {"blob": "x" * 4000, "n": 1}, transitions={"success": "end"})

    @bp.handler_for("end", is_end=True)
    async def end() -> None: ...

    broker = MemoryBroker()
    registry = BlueprintRegistry()
    registry.register(bp)
    state = JobState(id=JOB, blueprint="big", client_id="c", current_state="start", initial_data={},
                     created_at=clock(), updated_at=clock())  # fmt: skip
    assert await store.create_job(state)
    await JobActor(registry, store, broker, StepPolicy(), clock, objects=files).handle(envelope(JOB, Start(), clock()))

    [offer] = [e.body for e in broker.pending(routes.ROUTER) if isinstance(e.body, TaskOffer)]
    key = referenced_key(offer.params["blob"])
    assert key is not None and key.startswith(f"{JOB}/payloads/tasks/{offer.task_id}/")
    assert offer.params["n"] == 1
    assert await files.get_payload(key) == b'"' + b"x" * 4000 + b'"'
    assert [d.envelope.id for d in await store.due(clock() + TTL, 10)] == [f"purge:{JOB}:0"]


async def test_a_child_jobs_large_initial_data_goes_to_the_childs_prefix_and_its_handler_sees_the_value(
    store: MemoryStore, files: JobFiles, clock: FakeClock
) -> None:
    data = {"blob": "y" * 4000, "n": 2}
    seen: dict[str, Any] = {}
    parent, kid = StateMachineBlueprint("parent"), StateMachineBlueprint("kid")

    @parent.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.run_blueprint("kid", initial_data=data, transitions={"success": "end", "failure": "end"})

    @parent.handler_for("end", is_end=True)
    async def end() -> None: ...

    @kid.handler_for("start", is_start=True)
    async def kid_start(initial_data: dict[str, Any], actions: Any) -> None:
        seen["initial_data"] = initial_data
        actions.transition_to("done")

    @kid.handler_for("done", is_end=True)
    async def kid_done() -> None: ...

    broker, registry = MemoryBroker(), BlueprintRegistry()
    registry.register(parent)
    registry.register(kid)
    state = JobState(id=JOB, blueprint="parent", client_id="c", current_state="start", initial_data={},
                     created_at=clock(), updated_at=clock())  # fmt: skip
    assert await store.create_job(state)
    actor = JobActor(registry, store, broker, StepPolicy(), clock, objects=files)
    await actor.handle(envelope(JOB, Start(), clock()))

    [child] = [e for e in broker.pending(routes.JOBS) if isinstance(e.body, StartChild)]
    assert isinstance(child.body, StartChild)
    key = referenced_key(child.body.initial_data["blob"])
    assert key is not None and key.startswith(f"{child.key}/payloads/initial_data/")
    await actor.handle(child)
    assert seen["initial_data"] == data


# -- the files actor ----------------------------------------------------------------------------


async def _with_objects(objects: ObstoreObjects) -> None:
    await objects.put(f"{JOB}/a.txt", b"a")
    await objects.put("job-10/b.txt", b"b")


async def _purge(store: MemoryStore, objects: ObstoreObjects, clock: FakeClock, round_: int = 0) -> None:
    actor = FilesActor(store, objects, clock, after=TTL)
    await actor.handle(envelope(JOB, PurgeFiles(JOB, round_), clock(), id=f"purge:{JOB}:{round_}"))


async def test_a_job_gone_from_the_store_loses_its_objects_and_only_its_own(
    store: MemoryStore, objects: ObstoreObjects, clock: FakeClock
) -> None:
    await _with_objects(objects)
    await _purge(store, objects, clock)
    assert await objects.list(f"{JOB}/") == []
    assert [i.key for i in await objects.list("job-10/")] == ["job-10/b.txt"]


@pytest.mark.parametrize("status", [j.RUNNING, j.QUARANTINED, j.FINISHED])
async def test_a_stored_job_keeps_its_objects_and_is_looked_at_again(
    store: MemoryStore, objects: ObstoreObjects, clock: FakeClock, status: str
) -> None:
    await _with_objects(objects)
    finished_at = clock() - 10 if status == j.FINISHED else None
    state = JobState(id=JOB, blueprint="b", client_id="c", current_state="s", initial_data={},
                     created_at=0, updated_at=0, status=status, finished_at=finished_at)  # fmt: skip
    assert await store.create_job(state)
    await _purge(store, objects, clock, round_=3)

    assert [i.key for i in await objects.list(f"{JOB}/")] == [f"{JOB}/a.txt"]
    [again] = await store.due(clock() + TTL, 10)
    assert again.envelope.id == f"purge:{JOB}:4"
    assert again.at == (clock() - 10 + TTL if status == j.FINISHED else clock() + TTL)


async def test_a_job_ended_longer_ago_than_the_ttl_loses_its_objects(
    store: MemoryStore, objects: ObstoreObjects, clock: FakeClock
) -> None:
    await _with_objects(objects)
    state = JobState(id=JOB, blueprint="b", client_id="c", current_state="s", initial_data={},
                     created_at=0, updated_at=0, status=j.FAILED, finished_at=clock() - TTL)  # fmt: skip
    assert await store.create_job(state)
    await _purge(store, objects, clock)
    assert await objects.list(f"{JOB}/") == []
    assert await store.due(clock() + 10 * TTL, 10) == []


async def test_touching_a_job_schedules_its_first_purge_once(store: MemoryStore, clock: FakeClock) -> None:
    purges = Purges(store, clock, after=TTL)
    await purges.touched(JOB)
    await purges.touched(JOB)
    due = await store.due(clock() + TTL, 10)
    assert [(d.route, d.envelope.id, d.at) for d in due] == [(routes.FILES, f"purge:{JOB}:0", clock() + TTL)]
    assert due[0] == purge_deadline(JOB, clock() + TTL, clock())


def test_task_files_is_a_task_files(files: JobFiles) -> None:
    assert isinstance(files.task_files(JOB), TaskFiles)


# -- the whole loop on a node -------------------------------------------------------------------


async def test_on_a_node_a_finished_jobs_objects_go_once_its_ttl_has_passed(
    clock: FakeClock, eventually: Eventually, tmp_path: Path
) -> None:
    bp, _ = seed_example()
    registry = BlueprintRegistry()
    registry.register(bp)
    broker, store, objects = MemoryBroker(shards=2), MemoryStore(), memory_objects()
    files = JobFiles(objects, inline_limit=1024, task_files_dir=tmp_path, purges=Purges(store, clock, after=TTL))

    async def notify(delivery: WebhookDelivery, timestamp: int) -> None: ...

    node = Node(registry=registry, store=store, broker=broker, policy=StepPolicy(), sender=notify, clock=clock,
                sleep=clock.held_sleep, files=NodeFiles(objects, files, TTL))  # fmt: skip
    async with node:
        state = JobState(id=JOB, blueprint=bp.name, client_id="c", current_state="start", initial_data={},
                         created_at=clock(), updated_at=clock())  # fmt: skip
        assert await store.create_job(state)
        await broker.publish(routes.JOBS, envelope(JOB, Start(), clock()))

        async def finished() -> bool:
            job = await store.load_job(JOB)
            return job is not None and job.status == j.FINISHED

        await eventually(finished, "the job to finish")
        assert len(await objects.list(f"{JOB}/")) == 2
        clock.advance(TTL)  # the purge the first write scheduled falls due: the job ended a TTL ago

        async def purged() -> bool:
            return await objects.list(f"{JOB}/") == []

        await eventually(purged, "the job's objects to be deleted")
