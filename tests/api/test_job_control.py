"""The client API's job control beyond create/read/cancel: human approval decisions, redrive,
the quarantine list and the job history; over the in-memory store and broker."""

from __future__ import annotations

from typing import Any

import pytest

from engine import job as j
from engine.history import HistoryEvent
from engine.job import Approval
from engine.messages import Decision, Redrive
from tests.api.conftest import CLIENT, CLIENT_ID, NOW, Gateway, put_job

TOKEN = "t" * 43


async def waiting_for_human(gw: Gateway, job_id: str = "job-1", client_id: str = CLIENT_ID) -> j.JobState:
    state = await put_job(gw, job_id=job_id, client_id=client_id, status=j.WAITING_FOR_HUMAN)
    state.approval = Approval(
        id="approval-1",
        integration="slack",
        message="ship it?",
        transitions={"approve": "shipped", "reject": "dropped"},
        token=TOKEN,
        requested_at=NOW,
    )
    await gw.store.commit_job(state, 1)
    return state


async def decide(gw: Gateway, body: Any, headers: dict[str, str] | None = None, query: str = "") -> tuple[int, Any]:
    async with gw.http.post(f"/_public/webhooks/approval/job-1{query}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


# -- approval -------------------------------------------------------------------------------------


async def test_the_owner_sees_the_approval_and_its_token(gw: Gateway) -> None:
    await waiting_for_human(gw)

    async with gw.http.get("/api/v1/jobs/job-1", headers=CLIENT) as resp:
        view = await resp.json()

    assert view["status"] == "waiting_for_human"
    assert view["approval"]["token"] == TOKEN
    assert view["approval"]["decisions"] == ["approve", "reject"]
    assert view["approval"]["message"] == "ship it?"


@pytest.mark.parametrize(
    ("headers", "query", "body", "by"),
    [
        (CLIENT, "", {"decision": "approve"}, f"client:{CLIENT_ID}"),
        (None, "", {"decision": "approve", "token": TOKEN}, "approval_token"),
        (None, f"?token={TOKEN}", {"decision": "approve"}, "approval_token"),
    ],
)
async def test_a_decision_by_the_owner_or_the_token_is_passed_to_the_job(
    gw: Gateway, headers: dict[str, str] | None, query: str, body: dict[str, Any], by: str
) -> None:
    await waiting_for_human(gw)

    status, reply = await decide(gw, body, headers, query)

    assert (status, reply["status"]) == (200, "approval_received")
    [env] = gw.published(Decision)
    assert env.key == "job-1"
    assert env.body == Decision("approval-1", "approve", by=by, at=NOW)


async def test_a_second_decision_is_409_whoever_sends_it(gw: Gateway) -> None:
    await waiting_for_human(gw)
    assert (await decide(gw, {"decision": "approve", "token": TOKEN}))[0] == 200

    status, reply = await decide(gw, {"decision": "reject"}, CLIENT)

    assert status == 409
    assert "decision already" in reply["error"]
    assert len(gw.published(Decision)) == 1


async def test_a_decision_not_among_the_transitions_is_400_naming_them(gw: Gateway) -> None:
    await waiting_for_human(gw)

    status, reply = await decide(gw, {"decision": "maybe"}, CLIENT)

    assert status == 400
    assert "approve, reject" in reply["error"]
    assert gw.published(Decision) == []
    # Refused, so not claimed: a valid decision still goes through.
    assert (await decide(gw, {"decision": "reject"}, CLIENT))[0] == 200


@pytest.mark.parametrize("body", [{}, {"decision": ""}, {"decision": 3}])
async def test_a_missing_decision_is_400(gw: Gateway, body: dict[str, Any]) -> None:
    await waiting_for_human(gw)

    status, reply = await decide(gw, body, CLIENT)

    assert status == 400
    assert "decision" in reply["error"]


async def test_a_decision_for_a_job_not_waiting_is_409(gw: Gateway) -> None:
    await put_job(gw, status=j.RUNNING)

    status, reply = await decide(gw, {"decision": "approve"}, CLIENT)

    assert status == 409
    assert "not waiting" in reply["error"]


async def test_a_wrong_token_is_403_and_none_is_401(gw: Gateway) -> None:
    await waiting_for_human(gw)

    assert (await decide(gw, {"decision": "approve", "token": "guess"}))[0] == 403
    assert (await decide(gw, {"decision": "approve"}))[0] == 401
    assert gw.published(Decision) == []


async def test_another_clients_job_and_an_unknown_job_are_404(gw: Gateway) -> None:
    await waiting_for_human(gw, client_id="someone-else")

    assert (await decide(gw, {"decision": "approve"}, CLIENT))[0] == 404
    async with gw.http.post("/_public/webhooks/approval/nope", json={"decision": "x"}, headers=CLIENT) as resp:
        assert resp.status == 404


# -- redrive and quarantine -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [j.FAILED, j.QUARANTINED])
async def test_retry_redrives_a_failed_or_quarantined_job(gw: Gateway, status: str) -> None:
    await put_job(gw, status=status)

    async with gw.http.post("/api/v1/jobs/job-1/retry", headers=CLIENT) as resp:
        assert resp.status == 202
        assert (await resp.json())["status"] == "retry_accepted"
    async with gw.http.post("/api/v1/jobs/job-1/retry", headers=CLIENT) as resp:
        assert resp.status == 202

    redrives = gw.published(Redrive)
    assert [e.body for e in redrives] == [Redrive(requested_by=f"client:{CLIENT_ID}")] * 2
    assert redrives[0].id == redrives[1].id  # the job applies it once


@pytest.mark.parametrize("status", [j.RUNNING, j.FINISHED, j.CANCELLED])
async def test_retry_of_a_job_that_did_not_fail_is_409(gw: Gateway, status: str) -> None:
    await put_job(gw, status=status)

    async with gw.http.post("/api/v1/jobs/job-1/retry", headers=CLIENT) as resp:
        assert resp.status == 409
        assert status in (await resp.json())["error"]
    assert gw.published(Redrive) == []


async def test_the_quarantine_lists_only_the_callers_quarantined_jobs(gw: Gateway) -> None:
    for job_id, client_id, status in [
        ("q1", CLIENT_ID, j.QUARANTINED),
        ("f1", CLIENT_ID, j.FAILED),
        ("q2", "x", j.QUARANTINED),
    ]:
        state = await put_job(gw, job_id=job_id, client_id=client_id)
        state.status, state.error, state.finished_at = status, "broke", NOW
        await gw.store.commit_job(state, 1)

    async with gw.http.get("/api/v1/jobs/quarantined", headers=CLIENT) as resp:
        listed = await resp.json()

    assert [(v["job_id"], v["status"], v["error"]) for v in listed] == [("q1", "quarantined", "broke")]


@pytest.mark.parametrize("limit", ["0", "-1", "x", "100000"])
async def test_a_bad_quarantine_limit_is_400(gw: Gateway, limit: str) -> None:
    async with gw.http.get(f"/api/v1/jobs/quarantined?limit={limit}", headers=CLIENT) as resp:
        assert resp.status == 400
        assert "limit" in (await resp.json())["error"]


# -- history --------------------------------------------------------------------------------------


async def test_history_lists_the_jobs_events_oldest_first(gw: Gateway) -> None:
    state = await put_job(gw)
    events = [
        HistoryEvent(NOW, "job_started", "start"),
        HistoryEvent(NOW + 1, "task_started", "start", {"worker_id": "w"}),
    ]
    await gw.store.commit_job(state, 1, history=events)

    async with gw.http.get("/api/v1/jobs/job-1/history", headers=CLIENT) as resp:
        listed = await resp.json()

    assert listed == [
        {"at": NOW, "event": "job_started", "state": "start"},
        {"at": NOW + 1, "event": "task_started", "state": "start", "worker_id": "w"},
    ]


async def test_history_of_another_clients_job_is_404(gw: Gateway) -> None:
    await put_job(gw, client_id="x")

    async with gw.http.get("/api/v1/jobs/job-1/history", headers=CLIENT) as resp:
        assert resp.status == 404
