"""The admin role's routes: ``POST /api/v1/admin/reload-workers``.

Only a client with ``admin = true`` in ``clients.toml`` (or ``CLIENT_TOKEN`` when there is no
``clients.toml``) may call them; any other client gets 403.
"""

from __future__ import annotations

from aiohttp import web

from engine.errors import ConfigError
from transport.app.workers import VARIABLE
from transport.gateway.auth import client_of
from transport.gateway.context import CONTEXT, context_of
from transport.gateway.errors import json_response


async def reload_workers(request: web.Request) -> web.Response:
    """Read ``workers.toml`` again and swap it in for every gateway (``worker_tokens``): the
    whole table or nothing. A file with an error changes nothing and answers 400 naming it.
    Repeating the call is harmless (same table, a new version)."""
    client = await client_of(request)
    if not client.admin:
        raise web.HTTPForbidden(text=f"client {client.id!r} does not have the admin role")
    directory = context_of(request).workers
    if not directory.path:
        raise web.HTTPBadRequest(text=f"{VARIABLE} is not set: there is no workers.toml to reload")
    try:
        version, table = await directory.reload()
    except ConfigError as exc:
        raise web.HTTPBadRequest(text=f"workers.toml was not reloaded: {exc}") from None
    return json_response({"status": "worker_configs_reloaded", "version": version, "workers": len(table.listed())})


async def publish_workers(app: web.Application) -> None:
    """``on_startup``: a gateway with ``WORKERS_CONFIG_PATH`` publishes the file's table, as a
    reload does (``ConfigError`` stops it)."""
    directory = app[CONTEXT].workers
    if directory.path:
        await directory.reload()
