"""workers.toml at the gateway: each worker's own token names it, is its signature secret and
limits its skills; the global token may not act as a listed worker; the reload is admin-only,
all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from rxon.models import Heartbeat, SecurityContext, SkillInfo, TaskResult, WorkerRegistration
from rxon.security import sign_payload

from engine.messages import TaskDone, TaskOffer
from tests.api.conftest import NOW, WORKER_TOKEN, Gateway, put_job, wire, worker_headers
from tests.api.tenancy import CPU, GPU, OPS, client, rewrite_workers, settings_for, tenancy_gateway

REGISTER = "/_worker/workers/register"


@pytest.fixture
async def tg(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with tenancy_gateway(settings_for(tmp_path, rate_limiting_enabled=False)) as gateway:
        yield gateway


def signed(message: Any, token: str, signer: str) -> Any:
    signature = sign_payload(message, token, ignore_fields=None)
    return msgspec.structs.replace(message, security=SecurityContext(signature=signature, signer_id=signer))


def registration(worker_id: str, *skills: str) -> WorkerRegistration:
    return WorkerRegistration(
        worker_id=worker_id, supported_skills=[SkillInfo(name=s) for s in skills], timestamp=int(NOW)
    )


async def register(gw: Gateway, worker_id: str, token: str, *skills: str, signer_token: str | None = None) -> Any:
    body = signed(registration(worker_id, *skills), signer_token or token, worker_id)
    return await gw.http.post(REGISTER, headers=worker_headers(worker_id, token), data=wire(body))


async def test_a_worker_registers_with_its_own_token_and_its_own_signature(tg: Gateway) -> None:
    assert (await register(tg, "gpu-1", GPU, "echo")).status == 200
    assert (await register(tg, "cpu-1", CPU, "anything")).status == 200  # written as token_sha256


async def test_a_signature_made_with_another_token_is_refused(tg: Gateway) -> None:
    resp = await register(tg, "gpu-1", GPU, "echo", signer_token=WORKER_TOKEN)

    assert resp.status == 403
    assert "signature" in (await resp.json())["error"]


async def test_a_workers_token_acts_as_that_worker_only(tg: Gateway) -> None:
    resp = await register(tg, "cpu-1", GPU)

    assert resp.status == 403
    assert "'cpu-1' does not match" in (await resp.json())["error"]
    body = wire(signed(registration("cpu-1"), GPU, "cpu-1"))
    no_header = await tg.http.post(REGISTER, headers={"X-Worker-Token": GPU}, data=body)
    assert no_header.status == 403


async def test_the_global_token_may_not_act_as_a_listed_worker_but_as_any_other(tg: Gateway) -> None:
    resp = await register(tg, "gpu-1", WORKER_TOKEN, "echo")
    assert resp.status == 403
    assert "has its own token" in (await resp.json())["error"]

    assert (await register(tg, "free-1", WORKER_TOKEN, "echo")).status == 200


async def test_a_wrong_worker_token_is_401(tg: Gateway) -> None:
    resp = await register(tg, "gpu-1", "not-a-token")

    assert resp.status == 401


async def test_a_worker_limited_to_some_skills_is_recorded_with_those_only(tg: Gateway) -> None:
    resp = await register(tg, "gpu-1", GPU, "echo", "resize")

    assert resp.status == 200
    assert "never handed out: resize" in (await resp.json())["warning"]
    record = await tg.store.get_worker("gpu-1")
    assert record is not None and record.skills == ["echo"]
    beat = signed(
        Heartbeat(worker_id="gpu-1", status="idle", supported_skills=[SkillInfo(name="resize")], timestamp=int(NOW)),
        GPU,
        "gpu-1",
    )
    resp = await tg.http.patch("/_worker/workers/gpu-1", headers=worker_headers("gpu-1", GPU), data=wire(beat))
    assert resp.status == 200
    record = await tg.store.get_worker("gpu-1")
    assert record is not None and record.skills == []


async def test_polls_only_hand_out_the_skills_a_worker_may_take(tg: Gateway) -> None:
    assert (await register(tg, "gpu-1", GPU, "echo")).status == 200
    await put_job(tg, job_id="j-resize", task_id="t-resize")
    await tg.store.push_task(TaskOffer(job_id="j-resize", task_id="t-resize", type="resize", params={}))
    path = "/_worker/workers/gpu-1/tasks/next"

    query = {"timeout": "0", "available_skills": "resize"}
    resp = await tg.http.get(path, headers=worker_headers("gpu-1", GPU), params=query)

    assert resp.status == 204


async def test_a_result_is_checked_with_the_workers_own_token(tg: Gateway) -> None:
    assert (await register(tg, "gpu-1", GPU, "echo")).status == 200
    await put_job(tg, job_id="j", task_id="t1")
    await tg.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={}))
    path = "/_worker/workers/gpu-1/tasks/next"
    polled = await tg.http.get(path, headers=worker_headers("gpu-1", GPU), params={"timeout": "0"})
    assert polled.status == 200
    result = TaskResult(job_id="j", task_id="t1", worker_id="gpu-1", timestamp=int(NOW))

    forged = await tg.http.post(
        "/_worker/tasks/result", headers=worker_headers("gpu-1", GPU), data=wire(signed(result, WORKER_TOKEN, "gpu-1"))
    )
    good = await tg.http.post(
        "/_worker/tasks/result", headers=worker_headers("gpu-1", GPU), data=wire(signed(result, GPU, "gpu-1"))
    )

    assert forged.status == 403
    assert good.status == 200 and (await good.json())["status"] == "accepted"
    assert [e.body.task_id for e in tg.published(TaskDone) if isinstance(e.body, TaskDone)] == ["t1"]


# -- reload ----------------------------------------------------------------------------------------


async def test_a_reload_swaps_the_whole_table_in_at_once(tg: Gateway) -> None:
    rewrite_workers(tg.settings, '[gpu-2]\ntoken = "gpu-2-token"\n')

    resp = await tg.http.post("/api/v1/admin/reload-workers", headers=client(OPS))

    assert resp.status == 200 and (await resp.json())["workers"] == 1
    assert (await register(tg, "gpu-2", "gpu-2-token")).status == 200
    assert (await register(tg, "gpu-1", GPU, "echo")).status == 401  # gone with the old table
    assert (await register(tg, "gpu-1", WORKER_TOKEN, "echo")).status == 200  # no longer listed


async def test_a_broken_file_is_not_reloaded_and_the_table_in_force_stays(tg: Gateway) -> None:
    rewrite_workers(tg.settings, '[gpu-1]\ntoken = "new"\n[gpu-2]\nskills = 3\n')

    resp = await tg.http.post("/api/v1/admin/reload-workers", headers=client(OPS))

    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "workers.toml was not reloaded" in error and "[gpu-2] skills" in error
    assert (await register(tg, "gpu-1", GPU, "echo")).status == 200
    assert (await register(tg, "gpu-1", "new", "echo")).status == 401


async def test_reload_without_a_workers_file_is_400(tmp_path: Path) -> None:
    async with tenancy_gateway(settings_for(tmp_path, workers_config_path="")) as gw:
        resp = await gw.http.post("/api/v1/admin/reload-workers", headers=client(OPS))

        assert resp.status == 400
        assert "WORKERS_CONFIG_PATH is not set" in (await resp.json())["error"]
