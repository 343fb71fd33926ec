"""The job body's ``security`` and ``metadata`` reach an unmodified SDK worker's handler, and
``policy.allowed_skills`` stops a dispatch outside it, on both runtimes (issue 14, item 4b)."""

from __future__ import annotations

import pytest

from tests.e2e.client import Client

pytestmark = pytest.mark.e2e

SECURITY = {"signer_id": "portal", "identity_chain": ["portal", "team-a"]}
METADATA = {"request": "r-42", "tags": ["a", "b"]}


async def test_security_and_metadata_reach_the_workers_handler(client: Client, sdk_worker: str) -> None:
    body = {"initial_data": {}, "security": SECURITY, "metadata": METADATA, "policy": {"allowed_skills": ["whoami"]}}
    state = await client.wait(await client.submit("context", body))
    assert state["status"] == "finished", state
    assert state["result"]["security"] == SECURITY
    assert state["result"]["metadata"] == METADATA


async def test_a_dispatch_outside_allowed_skills_fails_the_job(client: Client, sdk_worker: str) -> None:
    body = {"initial_data": {"skill": "echo"}, "policy": {"allowed_skills": ["whoami"]}}
    state = await client.wait(await client.submit("context", body))
    assert state["status"] == "failed"
    assert state["error"] == "policy.allowed_skills does not allow task type 'echo' (allowed: 'whoami')"
