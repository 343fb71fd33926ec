"""The client API's bodies and answers as msgspec Structs, for the OpenAPI document only.

The handlers read and write plain JSON (``job_request``, ``client_api.job_view``...); these
Structs describe that JSON, and ``msgspec.json.schema_components`` turns them into the document's
schemas. The worker API needs none of its own: its bodies are rxon's models, documented as they
are. A test (``tests/api/test_openapi.py``) checks these against real answers of the gateway.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from rxon.models import SecurityContext

Seconds = Annotated[float, msgspec.Meta(gt=0, description="seconds, a positive number")]


class Error(msgspec.Struct):
    """Every 4xx and 5xx answer of the gateway: what was wrong, in words."""

    error: str


class JobPolicy(msgspec.Struct):
    """The job's policy: the skills (task types) its blueprint may dispatch; any other fails the job."""

    allowed_skills: list[Annotated[str, msgspec.Meta(min_length=1)]] | None = None


class JobRequest(msgspec.Struct):
    """The body of a job-creation request. ``null`` counts as absent; unknown keys are ignored."""

    initial_data: dict[str, Any] | None = None
    webhook_url: Annotated[str, msgspec.Meta(description="http(s) URL called on the job's events")] | None = None
    dispatch_timeout: Seconds | None = None
    result_timeout: Seconds | None = None
    max_transitions: Annotated[int, msgspec.Meta(ge=1)] | None = None
    security: SecurityContext | None = None
    metadata: dict[str, Any] | None = None
    policy: JobPolicy | None = None


class JobAccepted(msgspec.Struct):
    status: str
    job_id: str


class JobView(msgspec.Struct):
    """What a client sees of a job; ``result`` only once the job is terminal."""

    id: str
    job_id: str
    status: str
    blueprint_name: str
    current_state: str
    created_at: float
    updated_at: float
    progress: float | None = None
    progress_message: str | None = None
    finished_at: float | None = None
    error: str | None = None
    parent_job_id: str | None = None
    child_job_id: str | None = None
    schedule: str | None = None
    scheduled_for: float | None = None
    approval: dict[str, Any] | None = None
    data_metadata: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class JobAnswer(msgspec.Struct):
    """The answer to a cancel or a retry."""

    status: str
    job_id: str


class HistoryEvent(msgspec.Struct):
    at: float
    event: str
    state: str


class WorkerView(msgspec.Struct):
    worker_id: str
    worker_type: str | None
    skills: list[str]
    hot_skills: list[str]
    status: str
    load: int
    last_seen: float


class ScheduleView(msgspec.Struct):
    name: str
    blueprint: str
    rule: str
    timezone: str
    catch_up: bool
    next_fire: int
    next_fire_local: str
    last_fire: int | None
    last_fire_local: str | None
    last_job_id: str | None


class FailedWebhook(msgspec.Struct):
    webhook_id: str
    url: str
    event: str
    job_id: str | None
    attempts: int
    created_at: float
    last_attempt_at: float | None
    last_error: str | None
    failed_at: float | None
    payload: Any


class Redelivery(msgspec.Struct):
    status: str
    webhook_id: str


class UploadUrl(msgspec.Struct):
    url: str
    method: str
    expires_in: float
    s3_uri: str
    key: str


class Uploaded(msgspec.Struct):
    status: str
    s3_uri: str
    key: str
    size: int
    etag: str | None
    md5: str | None


class ApprovalRequest(msgspec.Struct):
    """A human decision: one of the transitions the job waits on; ``token`` unless the job's
    owner decides with its ``X-Client-Token``."""

    decision: Annotated[str, msgspec.Meta(min_length=1)]
    token: str | None = None


class ApprovalAnswer(msgspec.Struct):
    status: str
    job_id: str
    decision: str


class Status(msgspec.Struct):
    """A plain acknowledgement: ``{"status": "..."}`` and, for some, more fields."""

    status: str


class ReloadAnswer(msgspec.Struct):
    status: str
    version: int
    workers: int


class Registered(msgspec.Struct):
    status: str
    version: str
    warning: str | None = None


class HeartbeatAnswer(msgspec.Struct):
    status: str
    cancel_task_ids: list[str] | None = None


class ResultAnswer(msgspec.Struct):
    status: str
    reason: str | None = None


class TokenGrant(msgspec.Struct):
    """An STS grant (rxon ``TokenResponse``): the access token, its lifetime in seconds, the worker
    it names, and the refresh token that replaces the one used."""

    access_token: str
    expires_in: int
    worker_id: str
    refresh_token: str


class RefreshRequest(msgspec.Struct):
    refresh_token: str
