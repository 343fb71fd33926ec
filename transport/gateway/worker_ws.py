"""RXON's optional WebSocket, ``GET /_worker/ws/{worker_id}``: commands to the worker as soon as
they are decided, and its events back.

The upgrade follows the same checks as the other worker endpoints, answered as JSON before any
upgrade: the worker token (401 if missing or wrong), an ``X-Worker-ID`` naming another worker than
the path (403), a malformed worker id (400). The worker need not be registered yet: the SDK
(``WORKER_ENABLE_WEBSOCKETS=true``) connects while it registers.

- Server to worker: TEXT frames, each an rxon ``WorkerCommand`` as JSON. Today only
  ``cancel_task``: when a job, or the fan-out group of one, is cancelled while a worker may run
  its task, the actor that committed the cancellation announces a ``CancelNotice`` through the
  store (``Store.cancel_notices``; Redis pub/sub reaches every gateway), and the gateway holding
  that worker's socket sends ``{"command": "cancel_task", "task_id": ..., "job_id": ...}``. The
  SDK cancels the task and reports it ``cancelled``, and that late result is answered ``ignored``.
- Worker to server: TEXT frames are ``WorkerEventPayload`` JSON, applied as ``POST
  /_worker/events`` applies them (``worker_api.apply_event``). A frame that is not one (not JSON,
  not an event, a bad signature, another worker's, one over the worker's rate limit, which counts
  each frame as one call) is logged and dropped; the socket stays open.
  Nothing is sent back for a frame: the SDK would try to read any frame as a command.

One socket per worker per gateway: a new one makes the previous one close with 1008 (policy
violation). Commands to one socket go out in order, from one writer task per socket; a worker
that stops reading loses commands beyond ``COMMAND_BACKLOG`` (logged).

Best effort throughout: a command for a worker that is not connected, or connected to a gateway
that missed the notice, is not kept. The worker's next heartbeat answer lists the task in
``cancel_task_ids`` (``worker_api``), which stays the guaranteed path.

Lifecycle (``install``): for the app's lifetime one task relays the store's notices to the sockets
(subscribed on startup, so no notice announced once the gateway serves is missed; ended and
awaited on cleanup); on shutdown every open socket is asked to close with 1001 (going away), so
the SDK reconnects, to this gateway once it is back or to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from rxon.constants import COMMAND_CANCEL_TASK
from rxon.models import WorkerCommand
from rxon.utils import to_dict
from rxon.validators import is_valid_identifier

from actors.ports.notices import Subscription
from engine.errors import Unavailable
from engine.messages import CancelNotice
from transport.gateway.auth import WorkerIdentity, worker_of
from transport.gateway.context import CONTEXT, GatewayContext, context_of
from transport.gateway.limits import WORKER
from transport.gateway.worker_api import apply_event

log = logging.getLogger(__name__)

COMMAND_BACKLOG = 256  # commands queued for one socket before further ones are dropped


class _Socket:
    """One worker's open socket, and the commands waiting to go out on it."""

    def __init__(self, worker_id: str, ws: web.WebSocketResponse) -> None:
        self.worker_id, self.ws = worker_id, ws
        self._commands: deque[WorkerCommand] = deque()
        self._wake = asyncio.Event()
        self._close_code: WSCloseCode | None = None

    def send(self, command: WorkerCommand) -> None:
        """Queue ``command`` for the writer (dropped, with a warning, beyond ``COMMAND_BACKLOG``)."""
        if len(self._commands) >= COMMAND_BACKLOG:
            log.warning("worker %s is %d commands behind; dropping %r", self.worker_id, COMMAND_BACKLOG, command)
            return
        self._commands.append(command)
        self._wake.set()

    def close(self, code: WSCloseCode) -> None:
        """Ask the writer to close the socket with ``code``; commands not sent yet are dropped.
        The first code asked for is the one used."""
        if self._close_code is None:
            self._close_code = code
        self._wake.set()

    async def write(self) -> None:
        """Send the queued commands in order until asked to close, then close the socket; or until
        the socket is gone (the reader sees that too)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._commands and self._close_code is None:
                command = self._commands.popleft()
                try:
                    await self.ws.send_str(orjson.dumps(to_dict(command)).decode())
                except ConnectionError:
                    return
            if self._close_code is not None:
                await self.ws.close(code=self._close_code, message=_CLOSE_REASONS.get(self._close_code, b""))
                return


_CLOSE_REASONS = {
    WSCloseCode.POLICY_VIOLATION: b"replaced by a newer connection of this worker",
    WSCloseCode.GOING_AWAY: b"orchestrator gateway shutting down",
}


class WorkerSockets:
    """The open sockets of this gateway, by worker id (one each)."""

    def __init__(self) -> None:
        self._open: dict[str, _Socket] = {}

    @contextlib.contextmanager
    def hold(self, worker_id: str, ws: web.WebSocketResponse) -> Iterator[_Socket]:
        """``ws`` is the worker's socket for the block; the previous one, if any, is asked to close
        with 1008. A socket replaced meanwhile does not unregister its successor."""
        socket = _Socket(worker_id, ws)
        previous, self._open[worker_id] = self._open.get(worker_id), socket
        if previous is not None:
            previous.close(WSCloseCode.POLICY_VIOLATION)
        try:
            yield socket
        finally:
            if self._open.get(worker_id) is socket:
                del self._open[worker_id]

    def deliver(self, notice: CancelNotice) -> None:
        """Queue a ``cancel_task`` command if the notice's worker is connected here."""
        socket = self._open.get(notice.worker_id) if notice.worker_id is not None else None
        if socket is not None:
            socket.send(WorkerCommand(command=COMMAND_CANCEL_TASK, task_id=notice.task_id, job_id=notice.job_id))

    def close_all(self, code: WSCloseCode) -> None:
        for socket in self._open.values():
            socket.close(code)


SOCKETS = web.AppKey("worker_sockets", WorkerSockets)


def install(app: web.Application) -> None:
    """Give ``app`` its socket registry, the notice relay and the shutdown hook (see the module doc)."""
    app[SOCKETS] = WorkerSockets()
    app.cleanup_ctx.append(_relay_cancellations)
    app.on_shutdown.append(_close_sockets)


async def connect(request: web.Request) -> web.StreamResponse:
    """Upgrade after the worker checks; then read events until the socket closes."""
    ctx = context_of(request)
    identity = await worker_of(request, WORKER)
    worker_id = request.match_info["worker_id"]
    if not is_valid_identifier(worker_id):
        raise web.HTTPBadRequest(text=f"worker_id {worker_id!r} must be 1-128 of [A-Za-z0-9_-]")
    identity = identity.acting_as(worker_id, "worker in the path")
    ws = web.WebSocketResponse(max_msg_size=ctx.settings.max_request_body_bytes)
    # Held before the upgrade completes: a command decided once the worker sees it connected gets through.
    with request.app[SOCKETS].hold(worker_id, ws) as socket:
        await ws.prepare(request)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(socket.write())
            await _read_events(ctx, ws, identity)
            socket.close(WSCloseCode.OK)  # the writer closes the socket, if it is not closed yet, and ends
    return ws


async def _read_events(ctx: GatewayContext, ws: web.WebSocketResponse, identity: WorkerIdentity) -> None:
    worker_id = identity.worker_id
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            log.info("worker %s socket failed: %s", worker_id, ws.exception())
            return
        if message.type is not WSMsgType.TEXT:
            log.warning("worker %s sent a %s frame; only TEXT events are read", worker_id, message.type.name)
            continue
        await _apply_frame(ctx, message.data, identity)


async def _apply_frame(ctx: GatewayContext, data: str, identity: WorkerIdentity) -> None:
    """Apply one event frame; whatever is wrong with it is logged and the frame dropped."""
    worker_id = identity.worker_id
    try:
        raw: Any = orjson.loads(data)
        if not isinstance(raw, dict):
            raise web.HTTPBadRequest(text="an event frame must be a JSON object")
        await ctx.limiter.check(WORKER, identity.rate_key, ctx.clock())  # as a POSTed event: 429 drops it
        await apply_event(ctx, raw, identity)
    except orjson.JSONDecodeError as exc:
        log.warning("worker %s sent a frame that is not JSON (%s); dropped", worker_id, exc)
    except web.HTTPException as exc:
        log.warning("worker %s sent an event that was refused (%s: %s); dropped", worker_id, exc.status, exc.text)
    except Unavailable as exc:
        log.warning("worker %s event lost: %s", worker_id, exc)


async def _relay_cancellations(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: subscribed before the gateway serves; on cleanup the subscription is closed,
    which ends the relay, and the relay is awaited (an error in it surfaces here)."""
    sockets = app[SOCKETS]
    notices = app[CONTEXT].store.cancel_notices()
    relay = asyncio.create_task(_relay(notices, sockets), name="worker-ws-cancel-relay")
    try:
        yield
    finally:
        notices.close()
        await relay


async def _relay(notices: Subscription[CancelNotice], sockets: WorkerSockets) -> None:
    async for notice in notices:
        sockets.deliver(notice)


async def _close_sockets(app: web.Application) -> None:
    app[SOCKETS].close_all(WSCloseCode.GOING_AWAY)
