"""The gateway's aiohttp application: every route in one table."""

from __future__ import annotations

from aiohttp import web
from rxon.constants import (
    ENDPOINT_TASK_NEXT,
    ENDPOINT_TASK_RESULT,
    ENDPOINT_WORKER_EVENTS,
    ENDPOINT_WORKER_HEARTBEAT,
    ENDPOINT_WORKER_REGISTER,
    WS_ENDPOINT,
)

from transport.gateway import announcer, approvals, client_api, files_api, object_links, task_api, worker_api, worker_ws
from transport.gateway.blueprint_api import blueprint_graph
from transport.gateway.context import CONTEXT, GatewayContext
from transport.gateway.errors import json_errors, stamp_protocol_version

CLIENT_API = "/api/v1"


def build_app(ctx: GatewayContext) -> web.Application:
    """Routes are fixed when the app is built: one job-creation route per blueprint registered
    in ``ctx.registry`` at that moment (blueprints registered later are not served)."""
    app = web.Application(middlewares=[json_errors], client_max_size=ctx.settings.max_request_body_bytes)
    app[CONTEXT] = ctx
    app.on_response_prepare.append(stamp_protocol_version)
    router = app.router
    router.add_get("/_public/status", client_api.public_status)
    for bp in ctx.registry:
        router.add_post(ctx.registry.path_of(bp), client_api.create_job_handler(bp))
    router.add_post(f"{CLIENT_API}/jobs/{{name}}", client_api.no_such_blueprint)
    router.add_get(f"{CLIENT_API}/jobs/quarantined", client_api.quarantined_jobs)  # before {job_id}
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}", client_api.get_job)
    router.add_post(f"{CLIENT_API}/jobs/{{job_id}}/cancel", client_api.cancel_job)
    router.add_post(f"{CLIENT_API}/jobs/{{job_id}}/retry", client_api.retry_job)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/history", client_api.job_history)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/files/upload", files_api.upload_url)
    router.add_put(f"{CLIENT_API}/jobs/{{job_id}}/files/content/{{filename:.+}}", files_api.upload_content)
    router.add_get(f"{CLIENT_API}/jobs/{{job_id}}/files/download/{{filename:.+}}", files_api.download)
    router.add_get(object_links.ROUTE, object_links.get_object)
    router.add_put(object_links.ROUTE, object_links.put_object)
    router.add_post("/_public/webhooks/approval/{job_id}", approvals.decide)
    router.add_get(f"{CLIENT_API}/workers", client_api.list_workers)
    router.add_get(f"{CLIENT_API}/blueprints/{{name}}/graph", blueprint_graph)
    router.add_post(ENDPOINT_WORKER_REGISTER, worker_api.register)
    router.add_patch(ENDPOINT_WORKER_HEARTBEAT, worker_api.heartbeat)
    router.add_get(ENDPOINT_TASK_NEXT, task_api.next_task)
    router.add_post(ENDPOINT_TASK_RESULT, task_api.task_result)
    router.add_post(ENDPOINT_WORKER_EVENTS, worker_api.event)
    router.add_get(f"{WS_ENDPOINT}/{{worker_id}}", worker_ws.connect)
    announcer.install(app, ctx.broker)  # the pickups' TaskStarted, published beside the poll's answer
    worker_ws.install(app)  # the open sockets, and the relay of cancellations to them
    return app
