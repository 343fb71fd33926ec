"""The job state model: what the store keeps for one job, versioned and msgpack-encoded."""

from __future__ import annotations

from typing import Any

import msgspec
from rxon.constants import JOB_STATUS_WAITING_FOR_PARALLEL

from engine import defaults
from engine.messages import Envelope, ParentTask

PENDING = "pending"
RUNNING = "running"
WAITING_FOR_WORKER = "waiting_for_worker"
WAITING_FOR_PARALLEL = JOB_STATUS_WAITING_FOR_PARALLEL  # "waiting_for_parallel_tasks"
WAITING_FOR_HUMAN = "waiting_for_human"
WAITING_FOR_CHILD = "waiting_for_sub_job"
FINISHED = "finished"
FAILED = "failed"
QUARANTINED = "quarantined"
CANCELLED = "cancelled"
TERMINAL = frozenset({FINISHED, FAILED, QUARANTINED, CANCELLED})

# How many applied message ids a job remembers for de-duplication. Redeliveries arrive
# soon after the original, so a short window is enough and keeps the state small.
APPLIED_WINDOW = 64


class Outgoing(msgspec.Struct, frozen=True):
    """An effect of a step, published after the state commits.

    ``route`` names a mailbox (see ``engine.routes``); ``at`` (epoch seconds) defers delivery
    through the timeouts actor instead of publishing at once.
    """

    route: str
    envelope: Envelope
    at: float | None = None


class TaskState(msgspec.Struct, kw_only=True):
    """The task a job is waiting on. ``attempt`` counts dispatches of the same step (1-based)."""

    id: str
    type: str
    params: dict[str, Any]
    transitions: dict[str, str]
    attempt: int = 1
    max_attempts: int = defaults.TASK_MAX_ATTEMPTS
    priority: float = 0.0
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    dispatched_at: float = 0.0
    worker_id: str | None = None
    started_at: float | None = None
    waiting_retry: bool = False
    event_transitions: dict[str, str] | None = None  # worker event type -> state (supersedes the task)


class Versioned(msgspec.Struct, kw_only=True):
    """A document an actor owns (a job, a fan-out group): written only by compare-and-set on
    ``version``, remembering the ids of the messages ``applied`` to it and the ``outbox`` of the
    last one, so a redelivery changes nothing and re-publishes what may not have gone out."""

    version: int = 0
    applied: list[str] = msgspec.field(default_factory=list)
    outbox_of: str | None = None
    outbox: list[Outgoing] = msgspec.field(default_factory=list)

    def remember(self, message_id: str) -> None:
        self.applied.append(message_id)
        del self.applied[:-APPLIED_WINDOW]


class GroupRef(msgspec.Struct, kw_only=True):
    """The fan-out a job waits on; its branches live in the group's own state (``engine.group``).

    ``results`` arrive with ``AggregateDone`` and stay until the aggregator handler of
    ``aggregate_into`` returned, so a handler retried after raising sees them again.
    """

    id: str
    aggregate_into: str
    size: int
    results: dict[str, Any] | None = None


class Approval(msgspec.Struct, kw_only=True):
    """A human decision the job waits for (``await_human_approval``). ``token`` is single use:
    the gateway claims ``id`` before it passes a decision on, so only the first one counts."""

    id: str
    integration: str
    message: str
    transitions: dict[str, str]
    token: str
    requested_at: float
    expires_at: float | None = None

    def view(self) -> dict[str, Any]:
        """What the job's owner sees: what to decide, until when, and the token."""
        return {
            "integration": self.integration,
            "message": self.message,
            "decisions": sorted(self.transitions),
            "token": self.token,
            "requested_at": self.requested_at,
            "expires_at": self.expires_at,
        }


class ChildRef(msgspec.Struct, kw_only=True):
    """The child job a job waits on (``run_blueprint``); its end is reported once, by id."""

    id: str
    blueprint: str
    transitions: dict[str, str]


class JobState(Versioned, kw_only=True):
    """One job. ``version`` increases with every committed write (compare-and-set).

    ``deadlines``: the envelope ids of the deadlines this job has in the store's deadline set
    that still apply (at most the one ``engine.deadlines.awaited`` names); a commit removes the
    others from the set as it writes the state (ADR 0008).
    """

    id: str
    blueprint: str
    client_id: str
    current_state: str
    initial_data: dict[str, Any]
    created_at: float
    client_plan: str = defaults.CLIENT_PLAN  # the client's plan and params when it created the job
    client_params: dict[str, Any] = msgspec.field(default_factory=dict)
    updated_at: float
    status: str = PENDING
    state_history: dict[str, Any] = msgspec.field(default_factory=dict)
    webhook_url: str | None = None
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    max_transitions: int = defaults.MAX_TRANSITIONS_PER_JOB
    transitions: int = 0
    step_attempt: int = 0
    task: TaskState | None = None
    group: GroupRef | None = None
    approval: Approval | None = None
    child: ChildRef | None = None
    parent_id: str | None = None
    depth: int = 0
    parent_task: ParentTask | None = None  # Pure Holon mode: the parent orchestrator's task this job answers
    task_error: dict[str, Any] | None = None
    child_result: dict[str, Any] | None = None
    data_metadata: dict[str, Any] | None = None  # files workers uploaded: {json path: {uri, size, etag}}
    deadlines: list[str] = msgspec.field(default_factory=list)
    error: str | None = None
    finished_at: float | None = None
    security: dict[str, Any] | None = None  # the job body's ``security`` (an rxon SecurityContext), to its tasks
    metadata: dict[str, Any] | None = None  # the job body's ``metadata``, to its tasks
    allowed_skills: list[str] | None = None  # ``policy.allowed_skills``: None, any skill (engine.policy)
    schedule: str | None = None  # the schedule whose fire made the job (engine.schedules)...
    scheduled_for: float | None = None  # ...and that fire's instant
    traceparent: str | None = None  # the job's trace (W3C), where it was created; None: tracing off

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(JobState)


def encode_state(state: JobState) -> bytes:
    return _state_encoder.encode(state)


def decode_state(raw: bytes) -> JobState:
    return _state_decoder.decode(raw)
