"""The worker WebSocket (``GET /_worker/ws/{worker_id}``) over the in-memory store: checks before
the upgrade, ``cancel_task`` commands for the cancellations the store announces, one socket per
worker, event frames applied as ``POST /_worker/events`` applies them, and closing on shutdown.

Waits are bounded and wait for a frame or a condition, never for a time."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.test_utils import TestServer
from rxon.constants import COMMAND_CANCEL_TASK, WS_ENDPOINT
from rxon.models import WorkerCommand, WorkerEventPayload
from rxon.utils import from_dict, to_dict

from engine.messages import CancelNotice
from engine.registry import BlueprintRegistry
from tests.api.conftest import NOW, Gateway, put_job, sdk_signed, worker_headers
from tests.support.waiting import eventually
from transport.gateway import GatewayContext, build_app
from transport.memory import MemoryBroker, MemoryStore

WAIT = 5.0  # a hang guard: every wait here ends as soon as what it waits for happens

Socket = aiohttp.ClientWebSocketResponse


def ws_path(worker_id: str) -> str:
    return f"{WS_ENDPOINT}/{worker_id}"


async def connect(gw: Gateway, worker_id: str = "w1") -> Socket:
    return await gw.http.ws_connect(ws_path(worker_id), headers=worker_headers(worker_id))


async def command(ws: Socket) -> WorkerCommand:
    """The next frame, read as the SDK reads it (``HttpTransport.listen_for_commands``)."""
    message = await ws.receive(timeout=WAIT)
    assert message.type is WSMsgType.TEXT, message
    received: WorkerCommand = from_dict(WorkerCommand, json.loads(message.data))
    return received


def progress_frame(progress: float, message: str, worker_id: str = "w1", **targets: Any) -> str:
    """A progress event as the SDK sends it over the socket (``emit_event``: ``send_json(to_dict(...))``)."""
    event = WorkerEventPayload(
        event_id=str(uuid.uuid4()),
        worker_id=worker_id,
        origin_worker_id=worker_id,
        event_type="progress",
        payload={"progress": progress, "message": message},
        bubbling_chain=[],
        trace_context={},
        timestamp=int(NOW),
        **targets,
    )
    return json.dumps(to_dict(sdk_signed(event, worker_id, ignore_fields=["bubbling_chain"])))


# -- before the upgrade -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (worker_headers("w1", token="wrong"), 401),
        (worker_headers("someone-else"), 403),
    ],
)
async def test_a_bad_worker_is_refused_with_json_before_any_upgrade(
    gw: Gateway, headers: dict[str, str], status: int
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gw.http.ws_connect(ws_path("w1"), headers=headers)
    assert refused.value.status == status

    plain = await gw.http.get(ws_path("w1"), headers=headers)
    assert plain.status == status
    assert "error" in await plain.json()


async def test_a_plain_get_by_a_good_worker_is_a_json_400(gw: Gateway) -> None:
    resp = await gw.http.get(ws_path("w1"), headers=worker_headers("w1"))
    assert resp.status == 400
    assert "error" in await resp.json()


# -- commands -----------------------------------------------------------------------------------------


async def test_an_announced_cancellation_reaches_its_worker_as_a_cancel_task_command(gw: Gateway) -> None:
    ws = await connect(gw, "w1")
    others = await connect(gw, "w2")

    await gw.store.announce_cancels([CancelNotice("job-9", "t9", "w2"), CancelNotice("job-1", "t1", "w1")])

    assert await command(ws) == WorkerCommand(command=COMMAND_CANCEL_TASK, task_id="t1", job_id="job-1")
    assert await command(others) == WorkerCommand(command=COMMAND_CANCEL_TASK, task_id="t9", job_id="job-9")
    await ws.close()
    await others.close()


async def test_commands_to_one_worker_arrive_in_order(gw: Gateway) -> None:
    ws = await connect(gw)

    await gw.store.announce_cancels([CancelNotice("j1", "t1", "w1"), CancelNotice("j2", "t2", "w1")])
    await gw.store.announce_cancels([CancelNotice("j3", "t3", "w1")])

    assert [(await command(ws)).task_id for _ in range(3)] == ["t1", "t2", "t3"]
    await ws.close()


async def test_a_second_connection_closes_the_first_with_1008_and_takes_its_commands(gw: Gateway) -> None:
    first = await connect(gw)
    second = await connect(gw)

    closing = await first.receive(timeout=WAIT)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == WSCloseCode.POLICY_VIOLATION

    await gw.store.announce_cancels([CancelNotice("job-1", "t1", "w1")])
    assert (await command(second)).task_id == "t1"
    await second.close()


# -- events -------------------------------------------------------------------------------------------


async def test_a_progress_frame_is_applied_like_a_posted_event(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    ws = await connect(gw)

    await ws.send_str(progress_frame(0.5, "half way", origin_task_id="t1", target_job_id="j", target_task_id="t1"))

    async def recorded() -> bool:
        return await gw.store.get_progress("j") == (0.5, "half way")

    await eventually(recorded, "the progress to be stored", WAIT)
    await ws.close()


async def test_bad_frames_are_dropped_and_the_socket_stays_open(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    await put_job(gw, job_id="k", task_id="t2")
    ws = await connect(gw)
    on_k: dict[str, Any] = {"origin_task_id": "t2", "target_job_id": "k", "target_task_id": "t2"}

    await ws.send_str("not json")
    await ws.send_str("[1, 2]")
    await ws.send_str(json.dumps({"event_type": "progress"}))  # not an event
    await ws.send_str(progress_frame(0.2, "not w1's to send", worker_id="w2", **on_k))
    await ws.send_str(progress_frame(0.3, "signed", **on_k).replace('"signed"', '"altered"'))
    await ws.send_bytes(b"\x00")
    await ws.send_str(progress_frame(0.7, "still here", origin_task_id="t1", target_job_id="j", target_task_id="t1"))

    async def recorded() -> bool:
        return await gw.store.get_progress("j") == (0.7, "still here")

    await eventually(recorded, "the good frame after the bad ones to be applied", WAIT)
    assert await gw.store.get_progress("k") is None  # frames are read in order: the bad ones were dropped
    await gw.store.announce_cancels([CancelNotice("j", "t1", "w1")])
    assert (await command(ws)).task_id == "t1"
    await ws.close()


# -- shutdown -----------------------------------------------------------------------------------------


async def test_stopping_the_gateway_closes_open_sockets_with_1001_and_ends_the_relay(gw: Gateway) -> None:
    store = MemoryStore()
    server = TestServer(build_app(GatewayContext(gw.settings, store, MemoryBroker(), BlueprintRegistry(), gw.clock)))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.make_url(ws_path("w1")), headers=worker_headers("w1"))
            closed = asyncio.ensure_future(ws.receive(timeout=WAIT))
            await server.close()  # shutdown, then cleanup: the relay is awaited there

            message = await closed
            assert message.type is WSMsgType.CLOSE
            assert message.data == WSCloseCode.GOING_AWAY
            await store.announce_cancels([CancelNotice("j", "t1", "w1")])  # nobody listens any more: harmless
    finally:
        await server.close()
        await store.close()
