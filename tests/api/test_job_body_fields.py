"""The job body's ``security``, ``metadata`` and ``policy.allowed_skills``: stored on the job,
checked at the door, and handed to every task the job dispatches (issue 14, item 4b)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.messages import TaskOffer
from tests.api.conftest import CLIENT, Gateway, put_job
from tests.api.test_tasks import poll, register

SECURITY = {"signer_id": "team-a", "identity_chain": ["portal", "team-a"], "metadata": {"level": "gold"}}
METADATA = {"trace": "abc", "tags": ["x"]}


async def create(gw: Gateway, **body: Any) -> Any:
    return await gw.http.post("/api/v1/jobs/tiny", headers=CLIENT, json={"initial_data": {}, **body})


async def test_security_metadata_and_policy_are_stored_on_the_job(gw: Gateway) -> None:
    resp = await create(gw, security=SECURITY, metadata=METADATA, policy={"allowed_skills": ["echo"]})
    assert resp.status == 202, await resp.text()
    state = await gw.store.load_job((await resp.json())["job_id"])
    assert state is not None
    assert (state.security, state.metadata, state.allowed_skills) == (SECURITY, METADATA, ["echo"])


async def test_a_job_without_them_has_none(gw: Gateway) -> None:
    resp = await create(gw)
    state = await gw.store.load_job((await resp.json())["job_id"])
    assert state is not None
    assert (state.security, state.metadata, state.allowed_skills) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"security": "signed"}, "security must be a JSON object"),
        ({"security": {"identity_chain": "a"}}, "security must be a SecurityContext"),
        ({"metadata": [1]}, "metadata must be a JSON object"),
        ({"policy": ["echo"]}, "policy must be a JSON object"),
        ({"policy": {"allowed_skills": "echo"}}, "policy.allowed_skills must be a list of skill names"),
        ({"policy": {"allowed_skills": ["echo", ""]}}, "policy.allowed_skills must be a list of skill names"),
    ],
)
async def test_bad_fields_are_400_naming_them(gw: Gateway, body: dict[str, Any], named: str) -> None:
    resp = await create(gw, **body)
    assert resp.status == 400
    assert named in (await resp.json())["error"]


async def test_the_task_payload_carries_security_metadata_and_policy(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    state = await gw.store.load_job("j")
    assert state is not None
    state.security, state.metadata, state.allowed_skills = SECURITY, METADATA, ["echo"]
    await gw.store.commit_job(state, state.version)
    await register(gw)
    await gw.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={}))
    resp = await poll(gw)
    assert resp.status == 200
    payload = await resp.json()
    assert payload["security"] == SECURITY
    assert payload["metadata"] == METADATA
    assert payload["policy"] == {"allowed_skills": ["echo"]}


async def test_a_task_of_a_job_without_them_carries_none(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    await register(gw)
    await gw.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={}))
    resp = await poll(gw)
    payload = await resp.json()
    assert not {"security", "metadata", "policy"} & payload.keys()
