"""The gateway's aiohttp application: every route in one table."""

from __future__ import annotations

from aiohttp import web
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

from transport.gateway import (
    admin_api,
    announcer,
    approvals,
    client_api,
    console_api,
    console_ui,
    files_api,
    job_events,
    object_links,
    openapi,
    schedule_api,
    sts_api,
    task_api,
    webhook_api,
    worker_api,
    worker_ws,
)
from transport.gateway.blueprint_api import blueprint_graph
from transport.gateway.context import CONTEXT, GatewayContext
from transport.gateway.errors import json_errors, stamp_protocol_version
from transport.gateway.limits import BLOCKED
from transport.gateway.tracing import trace_requests
from transport.metrics import PATH as METRICS_PATH
from transport.metrics import Sources, metrics_handler

CLIENT_API = "/api/v1"


def build_app(ctx: GatewayContext) -> web.Application:
    """Routes are fixed when the app is built: one job-creation route per blueprint registered
    in ``ctx.registry`` at that moment (blueprints registered later are not served). Without the
    client API (``ENABLE_CLIENT_API=false``, Pure Holon mode) every path under ``/api/`` answers 404;
    the worker API, the public status and the approval webhook stay."""
    traced = [trace_requests(ctx.tracer)] if ctx.tracer is not None else []  # none at all with tracing off
    app = web.Application(middlewares=[json_errors, *traced], client_max_size=ctx.settings.max_request_body_bytes)
    app[CONTEXT] = ctx
    app[BLOCKED] = ctx.blocked  # orchestrator_ratelimit_blocked_total, for the metrics endpoint
    app.on_response_prepare.append(stamp_protocol_version)
    app.on_startup.append(admin_api.publish_workers)
    router = app.router
    router.add_get("/_public/status", client_api.public_status)
    openapi.install(app)  # /_public/openapi.json (built at start-up from these routes) and /_public/docs
    sources = Sources(ctx.stats, ctx.store, ctx.broker, ctx.clock, blocked=ctx.blocked.by_class, feed=ctx.feed)
    router.add_get(METRICS_PATH, metrics_handler(sources))
    if ctx.settings.enable_client_api:
        _client_routes(router, ctx)
        console_ui.install(router)  # the web console, a client of the client API
    else:
        router.add_route("*", "/api/{path:.*}", client_api.disabled)
    router.add_post("/_public/webhooks/approval/{job_id}", approvals.decide)
    router.add_post(ENDPOINT_WORKER_REGISTER, worker_api.register)
    router.add_patch(ENDPOINT_WORKER_HEARTBEAT, worker_api.heartbeat)
    router.add_get(ENDPOINT_TASK_NEXT, task_api.next_task)
    router.add_post(ENDPOINT_TASK_RESULT, task_api.task_result)
    router.add_post(ENDPOINT_WORKER_EVENTS, worker_api.event)
    router.add_get(f"{WS_ENDPOINT}/{{worker_id}}", worker_ws.connect)
    router.add_post(STS_TOKEN_ENDPOINT, sts_api.issue_token)
    router.add_post(STS_REFRESH_ENDPOINT, sts_api.refresh_token)
    # The pickups' TaskStarted, published beside the poll's answer unless the result comes first.
    announcer.install(app, ctx.broker, delay=ctx.settings.pickup_announce_delay_seconds)
    worker_ws.install(app)  # the open sockets, and the relay of cancellations to them
    return app


def _client_routes(router: web.UrlDispatcher, ctx: GatewayContext) -> None:
    for bp in ctx.registry:
        router.add_post(ctx.registry.path_of(bp), client_api.create_job_handler(bp))
    router.add_post(f"{CLIENT_API}/jobs/{{name}}", client_api.no_such_blueprint)
    router.add_get(f"{CLIENT_API}/jobs", client_api.list_jobs)
    router.add_get(f"{CLIENT_API}/jobs/quarantined", client_api.quarantined_jobs)  # before {job_id}
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}", client_api.get_job)
    router.add_post(f"{CLIENT_API}/jobs/{{job_id}}/cancel", client_api.cancel_job)
    router.add_post(f"{CLIENT_API}/jobs/{{job_id}}/retry", client_api.retry_job)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/history", client_api.job_history)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/events", job_events.job_events)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/files", console_api.list_files)
    router.add_get(f"{CLIENT_API}/webhooks/failed", webhook_api.failed_webhooks)
    router.add_post(f"{CLIENT_API}/webhooks/failed/{{webhook_id}}/redeliver", webhook_api.redeliver_webhook)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/files/upload", files_api.upload_url)
    router.add_put(f"{CLIENT_API}/jobs/{{job_id}}/files/content/{{filename:.+}}", files_api.upload_content)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/files/download/{{filename:.+}}", files_api.download)
    router.add_get(object_links.ROUTE, object_links.get_object)
    router.add_put(object_links.ROUTE, object_links.put_object)
    router.add_get(f"{CLIENT_API}/workers", client_api.list_workers)
    router.add_get(f"{CLIENT_API}/schedules", schedule_api.list_schedules)
    router.add_get(f"{CLIENT_API}/blueprints", console_api.list_blueprints)
    router.add_get(f"{CLIENT_API}/blueprints/{{name}}/graph", blueprint_graph)
    router.add_get(f"{CLIENT_API}/dashboard", console_api.dashboard)
    router.add_post(f"{CLIENT_API}/admin/reload-workers", admin_api.reload_workers)
