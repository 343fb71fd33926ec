"""What each route of the gateway does, for the OpenAPI document: one ``Op`` per (method, path)
as the app registers it (``resource.canonical``). ``document.build`` joins this table with the
app's router: a route registered without an entry here is left out of the document, which
``tests/api/test_openapi.py`` refuses, so a new route cannot go undocumented.

Job-creation routes are not listed: there is one per registered blueprint, described from the
registry (``document``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rxon.constants import (
    ENDPOINT_TASK_NEXT,
    ENDPOINT_TASK_RESULT,
    ENDPOINT_WORKER_EVENTS,
    ENDPOINT_WORKER_HEARTBEAT,
    ENDPOINT_WORKER_REGISTER,
    STS_REFRESH_ENDPOINT,
    STS_TOKEN_ENDPOINT,
    WS_ENDPOINT,
)
from rxon.models import Heartbeat, TaskPayload, TaskResult, WorkerEventPayload, WorkerRegistration

from transport.gateway.openapi import models as m

CLIENT, WORKER, PUBLIC, APPROVAL, SIGNED = "client", "worker", "public", "approval", "signed"
BINARY = "binary"  # a body or answer of raw bytes
HTML = "html"
DOT = "dot"
EVENTS = "events"  # text/event-stream
PROMETHEUS = "prometheus"  # Prometheus's text exposition format
OBJECT, ARRAY = "object", "array"  # JSON without a schema of its own here


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Op:
    """One operation. ``ok``: the success status, what it answers (a Struct, a list of one, or
    ``BINARY``/``HTML``/``DOT``/None for no body) and in words; ``errors``: the other statuses
    it may answer besides those its ``auth`` implies, each with a JSON ``Error`` body."""

    summary: str
    tag: str
    auth: str
    ok: tuple[int, Any, str]
    body: Any = None
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    description: str = ""
    optional_body: bool = False


LIMIT = Param("limit", "how many at most (1 to 1000; default 100)", {"type": "integer", "minimum": 1, "maximum": 1000})
SECONDS = {"type": "number", "minimum": 0}

A = "/api/v1"
OPS: dict[tuple[str, str], Op] = {
    # -- public ------------------------------------------------------------------------------
    ("GET", "/_public/status"): Op("Liveness", PUBLIC, PUBLIC, (200, m.Status, "the gateway is up")),
    ("GET", "/_public/metrics"): Op(
        "Metrics", PUBLIC, PUBLIC, (200, PROMETHEUS, "what this process counted, in Prometheus's text format")
    ),
    ("GET", "/_public/openapi.json"): Op(
        "This document", PUBLIC, PUBLIC, (200, "openapi", "the OpenAPI 3.1 document of this gateway")
    ),
    ("GET", "/_public/docs"): Op(
        "Interactive documentation", PUBLIC, PUBLIC, (200, HTML, "a page that renders this document")
    ),
    ("POST", "/_public/webhooks/approval/{job_id}"): Op(
        "Decide a human approval",
        PUBLIC,
        APPROVAL,
        (200, m.ApprovalAnswer, "the decision is queued"),
        body=m.ApprovalRequest,
        query=(Param("token", "the approval token (else in the body)", {"type": "string"}),),
        errors=(400, 404, 409, 413, 503),
        description="The job's owner (X-Client-Token) or the holder of the job's single-use approval token decides.",
    ),
    ("GET", "/_public/objects/{key}"): Op(
        "Download an object through a signed link",
        PUBLIC,
        SIGNED,
        (200, BINARY, "the object's bytes"),
        errors=(404, 501),
    ),
    ("PUT", "/_public/objects/{key}"): Op(
        "Upload an object through a signed link",
        PUBLIC,
        SIGNED,
        (200, m.Uploaded, "stored; size and MD5 checked"),
        body=BINARY,
        errors=(400, 501),
    ),
    # -- worker (RXON) -------------------------------------------------------------------------
    ("POST", ENDPOINT_WORKER_REGISTER): Op(
        "Register a worker",
        WORKER,
        WORKER,
        (200, m.Registered, "registered (again)"),
        body=WorkerRegistration,
        errors=(400, 413),
    ),
    ("PATCH", ENDPOINT_WORKER_HEARTBEAT): Op(
        "Heartbeat",
        WORKER,
        WORKER,
        (200, m.HeartbeatAnswer, "registration and the leases of current_tasks extended"),
        body=Heartbeat,
        optional_body=True,
        errors=(400, 404, 413),
        description="An empty body only extends the registration.",
    ),
    ("GET", ENDPOINT_TASK_NEXT): Op(
        "Long-poll for a task",
        WORKER,
        WORKER,
        (200, TaskPayload, "a task, signed with the orchestrator's secret (sig)"),
        query=(
            Param("timeout", "seconds to wait at most (capped by the server)", SECONDS),
            Param("available_skills", "comma-separated skills to take now", {"type": "string"}),
        ),
        errors=(204, 400, 404),
    ),
    ("POST", ENDPOINT_TASK_RESULT): Op(
        "Report a task's result",
        WORKER,
        WORKER,
        (200, m.ResultAnswer, "accepted, or ignored with a reason"),
        body=TaskResult,
        errors=(400, 413),
    ),
    ("POST", ENDPOINT_WORKER_EVENTS): Op(
        "Send a worker event (progress and others)",
        WORKER,
        WORKER,
        (200, m.Status, "accepted (dropped if its job is gone)"),
        body=WorkerEventPayload,
        errors=(400, 413),
    ),
    ("GET", f"{WS_ENDPOINT}/{{worker_id}}"): Op(
        "Open the worker's WebSocket",
        WORKER,
        WORKER,
        (101, None, "switching protocols: commands to the worker, its events back"),
        errors=(400,),
    ),
    ("POST", STS_TOKEN_ENDPOINT): Op(
        "Get an STS access token and refresh token",
        WORKER,
        WORKER,
        (200, m.TokenGrant, "a new access token (send it as X-Worker-Token) and refresh token"),
        description="No body. Any worker credential: its token, its client certificate (mTLS), or a "
        "current access token.",
    ),
    ("POST", STS_REFRESH_ENDPOINT): Op(
        "Swap a refresh token for a new access token and refresh token",
        WORKER,
        PUBLIC,
        (200, m.TokenGrant, "a new access token and a new refresh token (the one sent is replaced)"),
        body=m.RefreshRequest,
        errors=(400, 401, 403, 413, 429),
        description="The refresh token is the credential; send X-Worker-ID, the worker it was issued to. "
        "One already used works again for a few seconds only.",
    ),
    # -- client ----------------------------------------------------------------------------------
    ("POST", f"{A}/jobs/{{name}}"): Op(
        "Create a job of a blueprint that is not served here",
        "jobs",
        CLIENT,
        (404, m.Error, "no blueprint is served at this path"),
    ),
    ("GET", f"{A}/jobs"): Op(
        "List the caller's jobs",
        "jobs",
        CLIENT,
        (200, [m.JobView], "newest first; X-Next-Cursor when more may follow"),
        query=(
            Param("status", "comma-separated statuses", {"type": "string"}),
            Param("blueprint", "a blueprint name", {"type": "string"}),
            Param("created_after", "epoch seconds or ISO 8601 with a zone (inclusive)", {"type": "string"}),
            Param("created_before", "epoch seconds or ISO 8601 with a zone (exclusive)", {"type": "string"}),
            LIMIT,
            Param("cursor", "X-Next-Cursor of the previous page", {"type": "string"}),
            Param("offset", "0 only (pages follow the cursor)", {"type": "integer"}),
        ),
        errors=(400,),
    ),
    ("GET", f"{A}/jobs/quarantined"): Op(
        "List the caller's quarantined jobs",
        "jobs",
        CLIENT,
        (200, [m.JobView], "longest first"),
        query=(LIMIT,),
        errors=(400,),
    ),
    ("GET", f"{A}/jobs/{{job_id}}"): Op("Read a job", "jobs", CLIENT, (200, m.JobView, "the job"), errors=(404,)),
    ("POST", f"{A}/jobs/{{job_id}}/cancel"): Op(
        "Cancel a job", "jobs", CLIENT, (200, m.JobAnswer, "cancellation requested"), errors=(404, 409)
    ),
    ("POST", f"{A}/jobs/{{job_id}}/retry"): Op(
        "Redrive a failed or quarantined job", "jobs", CLIENT, (202, m.JobAnswer, "redrive queued"), errors=(404, 409)
    ),
    ("GET", f"{A}/jobs/{{job_id}}/history"): Op(
        "A job's history", "jobs", CLIENT, (200, [m.HistoryEvent], "oldest first"), errors=(404,)
    ),
    ("GET", f"{A}/jobs/{{job_id}}/files/upload"): Op(
        "A URL to upload a file of the job to",
        "files",
        CLIENT,
        (200, m.UploadUrl, "PUT the file to url"),
        query=(
            Param("filename", "a path inside the job's files", {"type": "string"}, required=True),
            Param("expires_in", "seconds the URL is valid", {"type": "integer", "minimum": 1}),
        ),
        errors=(400, 404, 501),
    ),
    ("PUT", f"{A}/jobs/{{job_id}}/files/content/{{filename}}"): Op(
        "Upload a file of the job",
        "files",
        CLIENT,
        (200, m.Uploaded, "stored; size and MD5 checked"),
        body=BINARY,
        errors=(400, 404, 501),
    ),
    ("GET", f"{A}/jobs/{{job_id}}/files/download/{{filename}}"): Op(
        "Download a file of the job",
        "files",
        CLIENT,
        (200, BINARY, "the bytes (or 302 to S3)"),
        errors=(302, 400, 404, 501),
    ),
    ("GET", f"{A}/webhooks/failed"): Op(
        "The caller's failed webhooks",
        "webhooks",
        CLIENT,
        (200, [m.FailedWebhook], "newest first"),
        query=(LIMIT,),
        errors=(400,),
    ),
    ("POST", f"{A}/webhooks/failed/{{webhook_id}}/redeliver"): Op(
        "Send a failed webhook again", "webhooks", CLIENT, (202, m.Redelivery, "pending again"), errors=(404,)
    ),
    ("GET", f"{A}/workers"): Op("The registered workers", "workers", CLIENT, (200, [m.WorkerView], "live workers")),
    ("GET", f"{A}/schedules"): Op(
        "The schedules (schedules.toml)", "schedules", CLIENT, (200, [m.ScheduleView], "with next and last fires")
    ),
    ("GET", f"{A}/blueprints/{{name}}/graph"): Op(
        "A blueprint's graph",
        "blueprints",
        CLIENT,
        (200, DOT, "DOT, SVG or PNG"),
        query=(Param("format", "dot (default), svg or png", {"type": "string", "enum": ["dot", "svg", "png"]}),),
        errors=(400, 404, 501),
    ),
    # -- the web console's (issue 16); documented here so the document covers them once merged ---
    ("GET", "/"): Op("The web console", "console", PUBLIC, (302, None, "redirect to /ui/")),
    ("GET", f"{A}/blueprints"): Op(
        "The registered blueprints", "blueprints", CLIENT, (200, ARRAY, "name, create path, states")
    ),
    ("GET", f"{A}/dashboard"): Op(
        "Counts of the caller's jobs, workers and queues",
        "console",
        CLIENT,
        (200, OBJECT, "upstream's shape, and more"),
    ),
    ("GET", f"{A}/jobs/{{job_id}}/files"): Op(
        "The job's files", "files", CLIENT, (200, ARRAY, "name, size, download, url"), errors=(404, 501)
    ),
    ("GET", f"{A}/jobs/{{job_id}}/events"): Op(
        "A job's history, live (Server-Sent Events)",
        "jobs",
        CLIENT,
        (200, EVENTS, "history and job events until the job ends"),
        errors=(404,),
    ),
    ("POST", f"{A}/admin/reload-workers"): Op(
        "Reload workers.toml on every gateway (admin role)",
        "admin",
        CLIENT,
        (200, m.ReloadAnswer, "the new table is in force"),
        errors=(400,),
    ),
}

# ENABLE_CLIENT_API=false: one route answers every method under /api/.
DISABLED = Op("The client API is disabled here", "jobs", PUBLIC, (404, m.Error, "ENABLE_CLIENT_API=false"))
DISABLED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
