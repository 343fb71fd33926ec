"""``RxonParent`` (Pure Holon mode's link to a parent) against an avtomat gateway: what is
particular to RXON over HTTP. What every ``ParentLink`` does is in
tests/conformance/test_parent_conformance.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from rxon.constants import ERROR_CODE_SECURITY
from rxon.models import SkillInfo

from engine.errors import ParentRefused, ParentUnavailable
from engine.messages import TaskDone, TaskOffer
from tests.api.conftest import SECRET, WORKER_TOKEN, Gateway, put_job
from transport.app.processes import free_port
from transport.parent import RxonParent

SKILLS = [SkillInfo(name="echo", type="blueprint")]

Link = Callable[..., AbstractAsyncContextManager[RxonParent]]


@pytest.fixture
def link(gw: Gateway) -> Link:
    """``link(token=..., secret=...)``: an ``RxonParent`` of the gateway, on its clock."""

    @asynccontextmanager
    async def open_(token: str = WORKER_TOKEN, secret: str = SECRET) -> AsyncIterator[RxonParent]:
        async with RxonParent(str(gw.http.make_url("")), "holon-1", token, secret=secret, clock=gw.clock) as parent:
            yield parent

    return open_


async def queue_task(gw: Gateway) -> None:
    await put_job(gw, job_id="j", task_id="t1")
    await gw.store.push_task(TaskOffer(job_id="j", task_id="t1", type="echo", params={"x": 1}))


async def test_registration_is_signed_and_lists_the_blueprints_as_skills(gw: Gateway, link: Link) -> None:
    async with link() as parent:
        await parent.register(SKILLS)

    record = await gw.store.get_worker("holon-1")
    assert record is not None
    assert record.skills == ["echo"]
    assert record.worker_type == "avtomat"
    assert record.info["security"]["signer_id"] == "holon-1"  # the gateway verified the signature


async def test_a_task_whose_signature_does_not_verify_is_refused_with_a_security_error(gw: Gateway, link: Link) -> None:
    await queue_task(gw)
    async with link(secret="not-the-parents-secret") as parent:
        await parent.register(SKILLS)

        assert await parent.next_task(["echo"], 1.0) is None

    [done] = gw.published(TaskDone)
    assert isinstance(done.body, TaskDone)
    assert (done.body.task_id, done.body.status, done.body.error_code) == ("t1", "failure", ERROR_CODE_SECURITY)


async def test_without_a_secret_the_signature_is_not_checked(gw: Gateway, link: Link) -> None:
    await queue_task(gw)
    async with link(secret="") as parent:
        await parent.register(SKILLS)

        task = await parent.next_task(["echo"], 1.0)

    assert task is not None and task.params == {"x": 1}
    assert gw.published(TaskDone) == []


async def test_a_wrong_worker_token_is_refused(link: Link) -> None:
    async with link(token="not-the-token") as parent:
        with pytest.raises(ParentRefused) as refused:
            await parent.register(SKILLS)

    assert refused.value.status == 401


async def test_a_parent_that_does_not_answer_is_unavailable() -> None:
    async with RxonParent(f"http://127.0.0.1:{free_port()}", "holon-1", WORKER_TOKEN) as parent:
        with pytest.raises(ParentUnavailable):
            await parent.register(SKILLS)
        with pytest.raises(ParentUnavailable):
            await parent.next_task(["echo"], 0.1)
