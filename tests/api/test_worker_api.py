"""RXON worker lifecycle: registration, heartbeats, authentication and signatures."""

from __future__ import annotations

from typing import Any

import msgspec
from rxon.constants import PROTOCOL_VERSION
from rxon.models import Heartbeat, SkillInfo, WorkerCapabilities, WorkerRegistration

from engine.messages import TaskOffer
from tests.api.conftest import CLIENT, NOW, Gateway, put_job, sdk_signed, set_status, wire, worker_headers

REGISTER = "/_worker/workers/register"


def registration(worker_id: str = "w1", skills: tuple[str, ...] = ("echo",)) -> WorkerRegistration:
    return WorkerRegistration(
        worker_id=worker_id,
        worker_type="demo",
        supported_skills=[SkillInfo(name=s, input_schema={"type": "object"}) for s in skills],
        available_skills=list(skills),
        hot_skills=["echo"],
        capabilities=WorkerCapabilities(hostname="vm", extra={"websockets": True}),
        timestamp=int(NOW),
    )


async def register(gw: Gateway, worker_id: str = "w1", skills: tuple[str, ...] = ("echo",)) -> None:
    body = wire(sdk_signed(registration(worker_id, skills), worker_id))
    resp = await gw.http.post(REGISTER, headers=worker_headers(worker_id), data=body)
    assert resp.status == 200, await resp.text()


async def beat(gw: Gateway, worker_id: str = "w1", **fields: Any) -> Any:
    message = sdk_signed(Heartbeat(worker_id=worker_id, timestamp=int(NOW), **fields), worker_id)
    return await gw.http.patch(f"/_worker/workers/{worker_id}", headers=worker_headers(worker_id), data=wire(message))


# -- registration ----------------------------------------------------------------------------


async def test_register_answers_like_rxon_and_lists_the_worker(gw: Gateway) -> None:
    body = wire(sdk_signed(registration(), "w1"))
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), data=body)
    assert resp.status == 200
    assert await resp.json() == {"status": "registered", "version": PROTOCOL_VERSION}

    workers = await (await gw.http.get("/api/v1/workers", headers=CLIENT)).json()
    assert workers == [
        {
            "worker_id": "w1",
            "worker_type": "demo",
            "skills": ["echo"],
            "hot_skills": ["echo"],
            "status": "idle",
            "load": 0,
            "last_seen": NOW,
        }
    ]
    record = await gw.store.get_worker("w1")
    assert record is not None
    assert record.websockets is True
    assert record.expires_at == NOW + gw.settings.worker_ttl
    assert record.info["capabilities"]["hostname"] == "vm"


async def test_unsigned_registration_is_accepted(gw: Gateway) -> None:
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), data=wire(registration()))
    assert resp.status == 200


async def test_register_warns_about_another_protocol_version(gw: Gateway) -> None:
    headers = {**worker_headers("w1"), "X-RXON-Version": "0.9"}
    resp = await gw.http.post(REGISTER, headers=headers, data=wire(registration()))
    assert "0.9" in (await resp.json())["warning"]


async def test_worker_token_missing_or_wrong_is_401(gw: Gateway) -> None:
    headers = worker_headers("w1")
    del headers["X-Worker-Token"]
    missing = await gw.http.post(REGISTER, headers=headers, data=wire(registration()))
    wrong = await gw.http.post(REGISTER, headers=worker_headers("w1", token="bad"), data=wire(registration()))
    assert (missing.status, wrong.status) == (401, 401)
    assert "missing X-Worker-Token" in (await missing.json())["error"]
    assert "invalid X-Worker-Token" in (await wrong.json())["error"]
    assert await gw.store.get_worker("w1") is None


async def test_bad_signature_is_403(gw: Gateway) -> None:
    signed = sdk_signed(registration(), "w1")
    tampered = msgspec.structs.replace(signed, worker_type="evil")
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), data=wire(tampered))
    assert resp.status == 403
    assert "signature" in (await resp.json())["error"]
    assert await gw.store.get_worker("w1") is None


async def test_signer_other_than_the_worker_is_403(gw: Gateway) -> None:
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), data=wire(sdk_signed(registration(), "w2")))
    assert resp.status == 403
    assert "signer_id" in (await resp.json())["error"]


async def test_stale_signed_timestamp_is_403(gw: Gateway) -> None:
    gw.clock.now = NOW + 301
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), data=wire(sdk_signed(registration(), "w1")))
    assert resp.status == 403
    assert "timestamp" in (await resp.json())["error"]


async def test_header_naming_another_worker_is_403(gw: Gateway) -> None:
    resp = await gw.http.post(REGISTER, headers=worker_headers("w2"), data=wire(registration("w1")))
    assert resp.status == 403
    assert "X-Worker-ID" in (await resp.json())["error"]


async def test_registration_that_does_not_decode_is_400(gw: Gateway) -> None:
    resp = await gw.http.post(REGISTER, headers=worker_headers("w1"), json={"worker_type": "demo"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "WorkerRegistration" in error and "worker_id" in error


async def test_invalid_worker_id_is_400(gw: Gateway) -> None:
    resp = await gw.http.post(REGISTER, headers={"X-Worker-Token": "worker-token"}, json={"worker_id": "a/b"})
    assert resp.status == 400
    assert "worker_id" in (await resp.json())["error"]


# -- heartbeat -------------------------------------------------------------------------------


async def test_heartbeat_of_unknown_worker_is_404_saying_not_found(gw: Gateway) -> None:
    resp = await beat(gw, "ghost", status="idle")
    assert resp.status == 404
    assert (await resp.json())["error"] == "worker ghost not found; register again"


async def test_heartbeat_after_expiry_is_404(gw: Gateway) -> None:
    await register(gw)
    gw.clock.now = NOW + gw.settings.worker_ttl + 1
    resp = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1"))
    assert resp.status == 404


async def test_empty_heartbeat_refreshes_the_ttl(gw: Gateway) -> None:
    await register(gw)
    gw.clock.now = NOW + 10
    resp = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1"))
    assert resp.status == 200
    assert await resp.json() == {"status": "ttl_refreshed"}
    record = await gw.store.get_worker("w1")
    assert record is not None
    assert record.expires_at == NOW + 10 + gw.settings.worker_ttl


async def test_heartbeat_updates_live_state_and_keeps_catalog_without_supported_skills(gw: Gateway) -> None:
    await register(gw, skills=("echo", "upper"))
    resp = await beat(gw, status="busy", current_tasks=["t1"], hot_skills=["upper"])
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    record = await gw.store.get_worker("w1")
    assert record is not None
    assert (record.status, record.current_tasks, record.hot_skills) == ("busy", ["t1"], ["upper"])
    assert record.skills == ["echo", "upper"]

    await beat(gw, status="idle", supported_skills=[SkillInfo(name="only")])
    record = await gw.store.get_worker("w1")
    assert record is not None
    assert record.skills == ["only"]


async def test_heartbeat_path_must_match_header_and_body(gw: Gateway) -> None:
    await register(gw)
    message = wire(Heartbeat(worker_id="w1", status="idle"))
    via_header = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w2"), data=message)
    body = wire(Heartbeat(worker_id="w2", status="idle"))
    via_body = await gw.http.patch("/_worker/workers/w1", headers=worker_headers("w1"), data=body)
    assert (via_header.status, via_body.status) == (403, 403)


async def test_heartbeat_returns_tasks_whose_job_was_cancelled(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, job_id="j", task_id="t1")
    await put_job(gw, job_id="k", task_id="t2")
    for job_id, task_id in (("j", "t1"), ("k", "t2")):
        await gw.store.push_task(TaskOffer(job_id=job_id, task_id=task_id, type="echo", params={}))
        lease_seconds = gw.settings.task_lease_seconds
        assert await gw.store.take_task("w1", ["echo"], 1.0, NOW, lease_seconds=lease_seconds) is not None
    await set_status(gw, "j", "cancelled")

    resp = await beat(gw, status="busy", current_tasks=["t1", "t2", "never-leased"])
    assert await resp.json() == {"status": "ok", "cancel_task_ids": ["t1"]}
