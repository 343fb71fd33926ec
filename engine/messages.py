"""The messages actors exchange, and the envelope that carries them.

Every message is a frozen msgspec Struct, tagged, encoded with msgpack. A job's mailbox
receives ``JobMessage``; the router receives ``TaskOffer``; a fan-out group's aggregator receives
``GroupMessage`` (its branches' ``TaskStarted``/``TaskDone``/``TaskLost``/``Timeout`` included); the
webhook intake receives ``JobEvent``.
Message ids are unique per logical message: a redelivered envelope keeps its id, which is what
makes handling idempotent (the job records the ids it has applied).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from engine import defaults
from engine.errors import MessageDecodeError


class _Message(msgspec.Struct, frozen=True, tag_field="msg"):
    """Base of all messages: frozen, tagged by ``msg`` on the wire."""


class Start(_Message, frozen=True, tag="start"):
    """Run a job whose state the gateway has just created (status ``pending``). ``created``: that
    state as stored (``engine.job.encode_state``, version 1), so the job actor need not load it
    first; only a guess (the job may have changed since), which the commit's compare-and-set
    checks.

    ``create``: nobody stored the job yet; the job actor stores ``created`` first unless a job
    with its id exists (a scheduled fire, whose job id is the fire's: ``engine.schedules``)."""

    created: bytes | None = None
    create: bool = False


class TaskStarted(_Message, frozen=True, tag="task_started"):
    """A worker took the task: the result deadline starts now."""

    task_id: str
    worker_id: str
    at: float


class TaskDone(_Message, frozen=True, tag="task_done"):
    """A worker's result. ``status`` defaults to success, as on the RXON wire. ``files``: what
    the worker uploaded for the result (its ``data_metadata``), checked by the gateway."""

    task_id: str
    worker_id: str | None = None
    status: str = "success"
    data: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    files: dict[str, dict[str, Any]] | None = None  # the SDK's data_metadata: {json path: {uri, size, etag}}


TimeoutKind = Literal["dispatch", "result", "retry_step", "retry_task", "approval"]


class Timeout(_Message, frozen=True, tag="timeout"):
    """A deadline fired. Stale timeouts (task or attempt no longer current) change nothing."""

    kind: TimeoutKind
    task_id: str | None = None  # the task's id, or the approval's for ``approval``
    attempt: int = 0


class TaskLost(_Message, frozen=True, tag="task_lost"):
    """The lease of a task ran out: ``worker_id`` took it and stopped heartbeating it (it died, or
    lost the network, for longer than the lease). Sent by the timeouts leader's sweep with the
    envelope id ``lost:{task_id}``. Treated like a result timeout after pickup: the task is retried
    under a new id, counting an attempt. Stale ones (another task id, another worker) change nothing.
    """

    task_id: str
    worker_id: str


class Cancel(_Message, frozen=True, tag="cancel"):
    """Stop the job now. A cancelled job never runs again."""

    reason: str = "cancelled by client"


class Decision(_Message, frozen=True, tag="decision"):
    """A human decided on the approval ``approval_id`` the job waits for; ``by`` says who
    (``client:<id>`` or ``approval_token``). Sent once per approval (the gateway claims it)."""

    approval_id: str
    decision: str
    by: str
    at: float


class StartChild(_Message, frozen=True, tag="start_child"):
    """Create and run a child job (``run_blueprint``); the envelope's key is the child's id.

    Idempotent: the child is created once, whoever delivers this first."""

    parent_id: str
    blueprint: str
    initial_data: dict[str, Any]
    client_id: str
    depth: int
    max_transitions: int
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    client_plan: str = defaults.CLIENT_PLAN  # the parent's, inherited (engine.job.JobState)
    client_params: dict[str, Any] = msgspec.field(default_factory=dict)
    security: dict[str, Any] | None = None  # the parent's security, metadata and policy, inherited
    metadata: dict[str, Any] | None = None
    allowed_skills: list[str] | None = None


class ChildEnded(_Message, frozen=True, tag="child_ended"):
    """The child job ``child_id`` ended with ``status``: its parent resumes, once."""

    child_id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None


class Redrive(_Message, frozen=True, tag="redrive"):
    """Run a failed or quarantined job again from the state it stopped in."""

    requested_by: str


class TaskOffer(_Message, frozen=True, tag="task_offer"):
    """A task waiting for a worker with skill ``type``. ``key`` of its envelope is the skill.

    ``group_id`` is set for a branch of a fan-out: its pickup and result go to that group's
    aggregator, not to the job.
    """

    job_id: str
    task_id: str
    type: str
    params: dict[str, Any]
    priority: float = 0.0
    step: int = 0
    result_timeout: float | None = None
    group_id: str | None = None
    dispatch_deadline: float | None = None  # epoch seconds by which a worker must take it; None: no limit


class BranchSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One branch of a fan-out, its options already resolved against the job's and the defaults.

    ``task_id`` is the branch's first task id and its key in ``AggregateDone.results``.
    """

    task_id: str
    type: str
    params: dict[str, Any]
    priority: float = 0.0
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    max_attempts: int = defaults.TASK_MAX_ATTEMPTS


class GroupStart(_Message, frozen=True, tag="group_start"):
    """Run a fan-out: create the group (idempotent by ``group_id``) and offer every branch."""

    group_id: str
    job_id: str
    branches: list[BranchSpec]
    step: int = 0


class GroupCancel(_Message, frozen=True, tag="group_cancel"):
    """The job ended while its group ran: offer nothing more, report nothing."""

    group_id: str
    job_id: str
    reason: str = "job ended"


class AggregateDone(_Message, frozen=True, tag="aggregate_done"):
    """Every branch of a group settled: one message to the job, whatever the number of branches.

    ``results`` maps each branch's first task id to
    ``{"status": ..., "data": {...} | None, "error": {"code", "message"} | None}``.
    """

    group_id: str
    results: dict[str, dict[str, Any]]
    files: dict[str, dict[str, Any]] | None = None  # the branches' uploaded files (``group.files``)


class ParentTask(msgspec.Struct, frozen=True):
    """The parent orchestrator's task a job was created for (Pure Holon mode, ADR 0016): the
    job's end is that task's result. ``job_id`` is the parent's job, which the result names."""

    task_id: str
    job_id: str


class WorkerEvent(_Message, frozen=True, tag="worker_event"):
    """An event a worker sent about the job (RXON ``WorkerEventPayload``), other than progress
    (the gateway stores progress beside the job). The job records it in its history; if the task
    it names is the job's current task and maps ``event_type`` in its ``event_transitions``, the
    task is superseded and the job moves on. The envelope id names ``event_id``: a resent event is
    applied once."""

    event_id: str
    event_type: str
    worker_id: str
    task_id: str | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    timestamp: float | None = None


class JobEvent(_Message, frozen=True, tag="job_event"):
    """News for the job's webhook, off the job's path: it ended, waits for a person, or its worker
    sent an event (``worker_event:<type>``). The envelope id is the delivery's ``webhook-id``.

    ``details`` are extra top-level fields of the payload (a worker event's worker, task and time);
    ``client_id`` owns the delivery (its dead list, ``GET /api/v1/webhooks/failed``). For a job a
    parent orchestrator's task created (``parent_task``), its end also goes to the holon
    (``routes.HOLON``)."""

    job_id: str
    event: str
    status: str
    webhook_url: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    approval: dict[str, Any] | None = None  # for ``job_waiting_for_human``: what to decide, and the token
    parent_task: ParentTask | None = None
    client_id: str = ""
    details: dict[str, Any] | None = None


class PurgeFiles(_Message, frozen=True, tag="purge_files"):
    """Delete job ``job_id``'s objects if the job has expired, else look again later. The files
    actor's deadline, with the envelope id ``purge:{job_id}:{round}``: each look that finds the
    job alive schedules the next round under a new id."""

    job_id: str
    round: int = 0


JobMessage = (
    Start
    | TaskStarted
    | TaskDone
    | TaskLost
    | Timeout
    | Cancel
    | AggregateDone
    | Decision
    | StartChild
    | ChildEnded
    | Redrive
    | WorkerEvent
)
GroupMessage = GroupStart | GroupCancel | TaskStarted | TaskDone | TaskLost | Timeout
Message = JobMessage | GroupMessage | TaskOffer | JobEvent | PurgeFiles


class CancelNotice(msgspec.Struct, frozen=True):
    """A task was cancelled while a worker may be running it: ``worker_id`` should stop ``task_id``
    (of job ``job_id``, as the worker's task payload named it).

    Not a mailbox message: after committing the cancellation, the actor broadcasts it to the
    gateways (``Store.announce_cancels``), which push it over the worker's WebSocket. Best effort;
    the worker's next heartbeat answer is the guaranteed path. ``worker_id`` is None when the job
    has not heard of a pickup yet: the actor then reads it from the task's lease.
    """

    job_id: str
    task_id: str
    worker_id: str | None = None


class Envelope(msgspec.Struct, frozen=True):
    """What travels on the broker: a message, the key it is ordered by, and its identity."""

    id: str
    key: str
    body: Message
    created_at: float
    traceparent: str | None = None


def new_id() -> str:
    return uuid.uuid4().hex


def envelope(key: str, body: Message, now: float, id: str | None = None) -> Envelope:
    return Envelope(id=id or new_id(), key=key, body=body, created_at=now)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Envelope)


def encode(env: Envelope) -> bytes:
    return _encoder.encode(env)


def decode(raw: bytes) -> Envelope:
    """Decode an envelope; bad bytes raise ``MessageDecodeError`` carrying the raw payload."""
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MessageDecodeError(raw, f"undecodable envelope: {exc}") from exc
