"""``GET /api/v1/jobs`` without the archive: the caller's live jobs from the store, filtered and
paged by cursor; a bad filter or cursor is a 400 naming it."""

from __future__ import annotations

import msgspec
import pytest

from engine.job import FAILED, FINISHED, RUNNING
from tests.api.conftest import CLIENT, NOW, Gateway, put_job

ROUTE = "/api/v1/jobs"


async def _jobs(gw: Gateway) -> None:
    for i, status in enumerate([FINISHED, FAILED, RUNNING, FINISHED, FINISHED]):
        state = await put_job(gw, job_id=f"job-{i}", status=status)
        state = msgspec.structs.replace(state, created_at=NOW + i // 2)  # pairs share a time: the id breaks ties
        await gw.store.commit_job(state, 1)
    await put_job(gw, job_id="theirs", client_id="someone-else", status=FINISHED)


async def _ids(gw: Gateway, query: str) -> tuple[list[str], str | None]:
    resp = await gw.http.get(f"{ROUTE}?{query}", headers=CLIENT)
    assert resp.status == 200, await resp.text()
    return [job["id"] for job in await resp.json()], resp.headers.get("X-Next-Cursor")


async def test_lists_only_the_callers_jobs_newest_first(gw: Gateway) -> None:
    await _jobs(gw)

    assert await _ids(gw, "") == (["job-4", "job-3", "job-2", "job-1", "job-0"], None)


async def test_filters_by_status_blueprint_and_creation_time(gw: Gateway) -> None:
    await _jobs(gw)

    assert (await _ids(gw, "status=finished"))[0] == ["job-4", "job-3", "job-0"]
    assert (await _ids(gw, "status=failed,running"))[0] == ["job-2", "job-1"]
    assert (await _ids(gw, "blueprint=other"))[0] == []
    assert (await _ids(gw, f"created_after={NOW + 1}&created_before={NOW + 2}"))[0] == ["job-3", "job-2"]
    assert (await _ids(gw, "created_before=2027-01-15T08:00:01Z"))[0] == ["job-1", "job-0"]  # NOW + 1, exclusive


async def test_pages_follow_the_cursor_without_gaps_or_repeats(gw: Gateway) -> None:
    await _jobs(gw)

    first, cursor = await _ids(gw, "limit=2")
    second, cursor2 = await _ids(gw, f"limit=2&cursor={cursor}")
    third, cursor3 = await _ids(gw, f"limit=2&cursor={cursor2}")

    assert first + second + third == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    assert cursor3 is None


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("status=done", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-01-01T00:00:00", "created_before"),  # no zone
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=%%%", "cursor"),
        ("offset=100", "offset"),
    ],
)
async def test_a_bad_filter_or_cursor_is_a_400_naming_it(gw: Gateway, query: str, named: str) -> None:
    resp = await gw.http.get(f"{ROUTE}?{query}", headers=CLIENT)

    assert resp.status == 400
    assert named in (await resp.json())["error"]


async def test_listing_needs_the_client_token(gw: Gateway) -> None:
    resp = await gw.http.get(ROUTE)

    assert resp.status == 401
