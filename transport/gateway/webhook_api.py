"""The client's failed webhooks: list the dead deliveries, send one again.

- ``GET /api/v1/webhooks/failed?limit=100``: the caller's deliveries that were given up (retried
  for ``WEBHOOK_MAX_AGE_SECONDS``, or refused an address), most recently given up first.
- ``POST /api/v1/webhooks/failed/{webhook_id}/redeliver``: make one pending again, due at once,
  with its attempts reset and a fresh ``WEBHOOK_MAX_AGE_SECONDS``; a node sends it within about
  a second, with the same ``webhook-id`` and body. A second request for it (or another client's
  id) answers 404: it is no longer on the caller's dead list.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from actors.ports.store import WebhookDelivery
from transport.gateway.auth import client_of
from transport.gateway.context import context_of
from transport.gateway.errors import json_response

MAX_LISTED = 1000


async def failed_webhooks(request: web.Request) -> web.Response:
    ctx = context_of(request)
    client_id = (await client_of(request)).id
    raw = request.query.get("limit", "100")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LISTED:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LISTED}, got {raw!r}")
    dead = await ctx.store.dead_webhooks(client_id, int(raw))
    return json_response([delivery_view(d) for d in dead])


async def redeliver_webhook(request: web.Request) -> web.Response:
    ctx = context_of(request)
    client_id = (await client_of(request)).id
    webhook_id = request.match_info["webhook_id"]
    now = ctx.clock()
    again = await ctx.store.redeliver_webhook(client_id, webhook_id, now, now + ctx.settings.webhook_max_age_seconds)
    if again is None:
        raise web.HTTPNotFound(text=f"no failed webhook {webhook_id} (already redelivered, or not yours)")
    return json_response({"status": "redelivery_scheduled", "webhook_id": again.id}, status=202)


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    """What a client sees of a dead delivery, its payload included."""
    return {
        "webhook_id": delivery.id,
        "url": delivery.url,
        "event": delivery.event,
        "job_id": delivery.job_id,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at,
        "last_attempt_at": delivery.last_attempt_at,
        "last_error": delivery.last_error,
        "failed_at": delivery.dead_at,
        "payload": orjson.loads(delivery.body),
    }
