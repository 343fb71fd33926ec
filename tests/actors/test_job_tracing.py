"""The job actor's share of a job's trace, through the ``Tracer`` port: a span per application,
child of the envelope's context or else the job's; the outbox carries the span's; a job without a
trace takes its first span's; tracing off stamps nothing. Also: a step logged at DEBUG carries the
job's ids (``actors.log_context``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec
import pytest

from actors import log_context
from actors.job import JobActor
from engine.messages import Start, envelope
from engine.policy import StepPolicy
from tests.actors.test_job_actor import JOB, create_job, load, offers_on_router, registry_of
from tests.blueprints import one_task
from tests.support.clock import FakeClock
from transport.memory import MemoryBroker, MemoryStore

JOB_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass
class RecordingTracer:
    """A ``Tracer`` that records (name, parent) and yields ``span-<n>`` traceparents."""

    spans: list[tuple[str, str | None]] = field(default_factory=list)
    enabled: bool = True

    @contextmanager
    def span(self, name: str, parent: str | None, attributes: Mapping[str, str | int]) -> Iterator[str | None]:
        self.spans.append((name, parent))
        yield f"00-{'a' * 32}-{len(self.spans):016x}-01"


async def created(store: MemoryStore, clock: FakeClock, traceparent: str | None) -> None:
    await create_job(store, one_task("echoer"), clock)
    if traceparent is not None:
        state = await load(store)
        state.traceparent = traceparent
        await store.commit_job(state, state.version)


@pytest.mark.parametrize("on_envelope", [None, CALLER])
async def test_a_span_per_application_child_of_the_envelope_else_the_job(
    clock: FakeClock, on_envelope: str | None
) -> None:
    store, broker, tracer = MemoryStore(), MemoryBroker(), RecordingTracer()
    await created(store, clock, JOB_TRACE)
    actor = JobActor(registry_of(one_task("echoer")), store, broker, StepPolicy(), clock, tracer=tracer)
    start = msgspec.structs.replace(envelope(JOB, Start(), clock(), id="m1"), traceparent=on_envelope)

    await actor.handle(start)

    assert tracer.spans == [("job Start", on_envelope or JOB_TRACE)]
    [offer] = offers_on_router(broker)
    assert offer.traceparent == f"00-{'a' * 32}-{1:016x}-01"  # the activation's span
    assert (await load(store)).traceparent == JOB_TRACE  # the job keeps its trace


async def test_a_job_without_a_trace_takes_its_first_spans(clock: FakeClock) -> None:
    store, broker, tracer = MemoryStore(), MemoryBroker(), RecordingTracer()
    await created(store, clock, None)
    actor = JobActor(registry_of(one_task("echoer")), store, broker, StepPolicy(), clock, tracer=tracer)

    await actor.handle(envelope(JOB, Start(), clock(), id="m1"))

    assert tracer.spans == [("job Start", None)]
    assert (await load(store)).traceparent == f"00-{'a' * 32}-{1:016x}-01"


async def test_tracing_off_stamps_nothing(clock: FakeClock) -> None:
    store, broker = MemoryStore(), MemoryBroker()
    await created(store, clock, None)
    actor = JobActor(registry_of(one_task("echoer")), store, broker, StepPolicy(), clock)

    await actor.handle(envelope(JOB, Start(), clock(), id="m1"))

    [offer] = offers_on_router(broker)
    assert offer.traceparent is None and (await load(store)).traceparent is None


async def test_a_step_logged_at_debug_carries_the_jobs_ids(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    store, broker = MemoryStore(), MemoryBroker()
    await created(store, clock, JOB_TRACE)
    actor = JobActor(registry_of(one_task("echoer")), store, broker, StepPolicy(), clock)
    fields: list[dict[str, object]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields.append({**(log_context.bound() or {}), "received": getattr(record, "received", None)})

    handler = Capture()
    logging.getLogger("actors.job").addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="actors.job"):
            await actor.handle(envelope(JOB, Start(), clock(), id="m1"))
    finally:
        logging.getLogger("actors.job").removeHandler(handler)

    assert fields == [
        {
            "job_id": JOB,
            "blueprint": "echoer",
            "state": "start",
            "trace_id": JOB_TRACE[3:35],
            "received": "Start",
        }
    ]
