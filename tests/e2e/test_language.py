"""The rest of the blueprint language end to end, on both runtimes, with real SDK workers: human
approval, child jobs, worker error classes, redrive from quarantine, and the job history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import Client, wait_for_file

pytestmark = pytest.mark.e2e


RETRIED = ["TRANSIENT_ERROR", "RESOURCE_EXHAUSTED_ERROR", "TIMEOUT_ERROR", "INTERNAL_ERROR"]
QUARANTINING = ["PERMANENT_ERROR", "SECURITY_ERROR", "DEPENDENCY_ERROR", "CONTRACT_VIOLATION_ERROR"]
FAILING = ["INVALID_INPUT_ERROR", "INTEGRITY_MISMATCH_ERROR"]


async def history(client: Client, job_id: str) -> list[dict[str, Any]]:
    async with client.http.get(f"{client.orch.url}/api/v1/jobs/{job_id}/history") as resp:
        assert resp.status == 200, await resp.text()
        return list(await resp.json())


async def post(client: Client, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    async with client.http.post(f"{client.orch.url}{path}", json=body, **kwargs) as resp:
        return resp.status, await resp.json()


# -- approval -------------------------------------------------------------------------------------


async def test_an_approval_round_trip_with_the_token(client: Client) -> None:
    job_id = await client.submit("approval", {"initial_data": {}})
    waiting = await client.reach(job_id, "waiting_for_human")
    token = waiting["approval"]["token"]

    approve = f"/_public/webhooks/approval/{job_id}"
    status, reply = await post(client, approve, {"decision": "approve", "token": token}, headers={"X-Client-Token": ""})
    assert (status, reply["status"]) == (200, "approval_received")
    again, _ = await post(client, approve, {"decision": "reject"})

    state = await client.wait(job_id)
    assert (state["status"], state["result"]["outcome"]) == ("finished", "approved")
    assert again == 409
    [decided] = [e for e in await history(client, job_id) if e["event"] == "approval_decided"]
    assert (decided["decision"], decided["by"]) == ("approve", "approval_token")


async def test_a_decision_that_is_not_offered_changes_nothing(client: Client) -> None:
    job_id = await client.submit("approval", {"initial_data": {}})
    await client.reach(job_id, "waiting_for_human")

    status, reply = await post(client, f"/_public/webhooks/approval/{job_id}", {"decision": "maybe"})

    assert status == 400
    assert "approve, reject, timeout" in reply["error"]
    assert (await client.job(job_id))["status"] == "waiting_for_human"
    await client.cancel(job_id)


async def test_no_decision_in_time_takes_the_timeout_transition(client: Client) -> None:
    state = await client.wait(await client.submit("approval", {"initial_data": {"timeout": 0.5}}))

    assert (state["status"], state["result"]["outcome"]) == ("finished", "expired")


# -- child jobs -----------------------------------------------------------------------------------


async def test_a_parent_resumes_once_with_its_childs_result(client: Client, sdk_worker: str) -> None:
    parent_id = await client.submit("parent", {"initial_data": {"text": "from the child"}})

    state = await client.wait(parent_id)

    assert (state["status"], state["current_state"]) == ("finished", "merge")
    outcome = state["result"]["child"]
    assert (outcome["status"], outcome["result"]["echo"]) == ("finished", "from the child")
    events = [e["event"] for e in await history(client, parent_id)]
    assert events.count("child_started") == events.count("child_ended") == 1
    child = await client.job(outcome["job_id"])
    assert (child["status"], child["parent_job_id"]) == ("finished", parent_id)


async def test_cancelling_a_parent_cancels_its_child_down_to_the_worker(
    client: Client, sdk_worker: str, marker_dir: Path
) -> None:
    parent_id = await client.submit("parent", {"initial_data": {"seconds": 30}})
    child_id = (await client.reach(parent_id, "waiting_for_sub_job"))["child_job_id"]
    await wait_for_file(marker_dir / f"started-{child_id}")

    await client.cancel(parent_id)

    assert (await client.wait(parent_id))["status"] == "cancelled"
    assert (await client.wait(child_id))["status"] == "cancelled"
    await wait_for_file(marker_dir / f"cancelled-{child_id}")


# -- worker error classes -------------------------------------------------------------------------


async def test_each_error_class_retries_quarantines_or_fails_the_job(client: Client, sdk_worker: str) -> None:
    codes = RETRIED + QUARANTINING + FAILING
    ids = await asyncio.gather(*(client.submit("error-classes", {"initial_data": {"code": c}}) for c in codes))

    states = dict(zip(codes, await asyncio.gather(*(client.wait(i) for i in ids)), strict=True))

    for code in RETRIED:
        assert states[code]["status"] == "quarantined", states[code]
        assert "gave up after 2 attempts" in states[code]["error"]
    for code in QUARANTINING:
        assert states[code]["status"] == "quarantined", states[code]
    for code in FAILING:
        assert states[code]["status"] == "failed", states[code]
    for code, state in states.items():
        assert code in state["error"]
    retries = [e for e in await history(client, ids[0]) if e["event"] == "task_retry_scheduled"]
    assert len(retries) == 1


async def test_a_blueprint_that_maps_failure_handles_every_final_error(client: Client, sdk_worker: str) -> None:
    codes = RETRIED[:1] + QUARANTINING[:1] + FAILING[:1]
    body = [{"initial_data": {"code": c, "handled": True}} for c in codes]
    ids = await asyncio.gather(*(client.submit("error-classes", b) for b in body))

    states = await asyncio.gather(*(client.wait(i) for i in ids))

    for code, state in zip(codes, states, strict=True):
        assert (state["status"], state["current_state"]) == ("finished", "handled"), state
        error = state["result"]["task_error"]
        assert (error["code"], error["task_type"]) == (code, "fail_with")
    assert [s["result"]["task_error"]["attempts"] for s in states] == [2, 1, 1]


# -- quarantine and redrive -----------------------------------------------------------------------


async def test_a_quarantined_job_is_listed_and_redriven_to_the_end(client: Client, sdk_worker: str) -> None:
    job_id = await client.submit("redrive", {"initial_data": {}})
    assert (await client.wait(job_id))["status"] == "quarantined"
    async with client.http.get(f"{client.orch.url}/api/v1/jobs/quarantined") as resp:
        assert job_id in [j["job_id"] for j in await resp.json()]

    status, _ = await post(client, f"/api/v1/jobs/{job_id}/retry")

    assert status == 202
    await client.until(job_id, lambda state: state["status"] != "quarantined", "was redriven")
    state = await client.wait(job_id)
    assert (state["status"], state["result"]["recovered"]) == ("finished", True)
    async with client.http.get(f"{client.orch.url}/api/v1/jobs/quarantined") as resp:
        assert job_id not in [j["job_id"] for j in await resp.json()]
    events = [e["event"] for e in await history(client, job_id)]
    assert events.count("task_dispatched") == 2
    assert "job_redriven" in events
    assert events[-1] == "job_ended"
