"""Listing a client's live jobs (``JobListing``, what ``GET /api/v1/jobs`` reads without the
archive), on every store: filters, newest first, pages after a position."""

from __future__ import annotations

from actors.ports.archive import JobQuery
from actors.ports.store import Store
from tests.archive.samples import job


async def _ids(store: Store, **filters: object) -> list[str]:
    query = JobQuery(client_id="client-a", limit=filters.pop("limit", 10), **filters)  # type: ignore[arg-type]
    return [state.id for state in await store.list_jobs(query)]


async def test_lists_the_clients_jobs_newest_first_with_filters_and_pages(store: Store) -> None:
    await store.create_job(job("a", created_at=100.0))
    await store.create_job(job("b", created_at=200.0, blueprint="other"))
    await store.create_job(job("c", created_at=200.0))
    await store.create_job(job("theirs", created_at=300.0, client_id="client-b"))
    finished = job("a", created_at=100.0, status="finished")
    await store.commit_job(finished, 1)

    assert await _ids(store) == ["c", "b", "a"]  # equal times: the larger id first
    assert await _ids(store, statuses=("finished",)) == ["a"]
    assert await _ids(store, blueprint="tiny") == ["c", "a"]
    assert await _ids(store, created_after=150.0, created_before=300.0) == ["c", "b"]
    assert await _ids(store, limit=1, before=(200.0, "c")) == ["b"]
    assert await _ids(store, before=(200.0, "b")) == ["a"]
