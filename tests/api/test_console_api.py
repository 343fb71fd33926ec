"""The routes the web console reads: the blueprint list, the dashboard, a job's file list, its
Server-Sent Events, and the console's own static files; over the in-memory store and broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.ports.store import WorkerRecord
from engine.history import HistoryEvent
from engine.job import FINISHED, RUNNING
from engine.messages import TaskOffer
from tests.api.conftest import NOW, Gateway, put_job
from transport.app.clients import client_id_of
from transport.gateway import console_api, console_ui, job_events

CLIENT = {"X-Client-Token": "client-token"}


async def test_blueprints_lists_each_with_its_create_path_and_states(gw: Gateway) -> None:
    async with gw.http.get("/api/v1/blueprints", headers=CLIENT) as resp:
        assert resp.status == 200
        listed = await resp.json()
    assert listed == [
        {
            "name": "tiny",
            "path": "/api/v1/jobs/tiny",
            "start_state": "start",
            "states": ["end", "start"],
            "end_states": ["end"],
        }
    ]


async def test_the_console_routes_need_a_client_token(gw: Gateway) -> None:
    for path in ("/api/v1/blueprints", "/api/v1/dashboard", "/api/v1/jobs/job-1/events", "/api/v1/jobs/job-1/files"):
        async with gw.http.get(path) as resp:
            assert resp.status == 401, path
            assert "X-Client-Token" in (await resp.json())["error"]


async def test_the_dashboard_counts_the_callers_jobs_queues_and_workers(gw: Gateway) -> None:
    await put_job(gw, job_id="a", status=RUNNING)
    await put_job(gw, job_id="b", status=RUNNING)
    await put_job(gw, job_id="c", status=FINISHED)
    await put_job(gw, job_id="theirs", status=FINISHED, client_id="someone-else")
    await gw.store.put_worker(
        WorkerRecord(worker_id="w1", skills=["echo", "resize"], last_seen=NOW, expires_at=NOW + 60)
    )
    await gw.store.put_worker(
        WorkerRecord(worker_id="w2", skills=["echo"], status="busy", last_seen=NOW, expires_at=NOW + 60)
    )
    await gw.store.push_task(TaskOffer(job_id="a", task_id="t1", type="echo", params={}))

    async with gw.http.get("/api/v1/dashboard", headers=CLIENT) as resp:
        assert resp.status == 200
        body = await resp.json()

    assert body["jobs"] == {"queued": 0, "finished": 1, "running": 2}
    assert body["jobs_truncated"] is False
    assert body["queues"] == {"echo": 1, "resize": 0}
    assert body["workers"] == {"total": 2, "busy": 1, "idle": 1}
    assert body["schedules"] == []


async def test_the_dashboard_says_when_it_counted_only_the_newest_jobs(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_api, "DASHBOARD_JOBS", 2)
    for job_id in ("a", "b", "c"):
        await put_job(gw, job_id=job_id, status=RUNNING)

    async with gw.http.get("/api/v1/dashboard", headers=CLIENT) as resp:
        body = await resp.json()

    assert (body["jobs"], body["jobs_truncated"]) == ({"queued": 0, "running": 2}, True)


async def test_a_job_list_shows_the_progress_of_running_jobs(gw: Gateway) -> None:
    await put_job(gw, job_id="a", status=RUNNING)
    await gw.store.set_progress("a", 0.25, "a quarter")

    async with gw.http.get("/api/v1/jobs", headers=CLIENT) as resp:
        listed = await resp.json()

    assert [(j["job_id"], j["progress"], j["progress_message"]) for j in listed] == [("a", 0.25, "a quarter")]


async def test_files_without_an_object_store_is_a_501_and_another_clients_job_404(gw: Gateway) -> None:
    await put_job(gw, job_id="mine")
    await put_job(gw, job_id="theirs", client_id="someone-else")
    async with gw.http.get("/api/v1/jobs/mine/files", headers=CLIENT) as resp:
        assert resp.status == 501
        assert "object store" in (await resp.json())["error"]
    async with gw.http.get("/api/v1/jobs/theirs/files", headers=CLIENT) as resp:
        assert resp.status == 404


def _parse(text: str) -> list[dict[str, Any]]:
    """The stream's events: ``{"event", "id", "data"}`` each; comments kept as ``{"comment"}``."""
    import json

    events: list[dict[str, Any]] = []
    for block in filter(None, text.split("\n\n")):
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields["comment" if name == "" else name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        events.append(fields)
    return events


async def _finished_job_with_history(gw: Gateway) -> None:
    state = await put_job(gw, job_id="job-1", status=RUNNING)
    events = [
        HistoryEvent(at=NOW + i, event=name, state="start") for i, name in enumerate(("job_started", "job_ended"))
    ]
    state.status, state.state_history = FINISHED, {"answer": 42}
    await gw.store.commit_job(state, 1, history=events)


async def test_events_stream_a_finished_jobs_history_then_end(gw: Gateway) -> None:
    await _finished_job_with_history(gw)

    async with gw.http.get("/api/v1/jobs/job-1/events", headers=CLIENT) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        events = _parse(await resp.text())

    assert [(e["event"], e.get("id")) for e in events] == [
        ("history", "1"),
        ("history", "2"),
        ("job", None),
        ("end", None),
    ]
    assert events[1]["data"]["event"] == "job_ended"
    assert events[2]["data"]["result"] == {"answer": 42}
    assert events[3]["data"] == {"status": FINISHED}


async def test_events_resume_after_the_last_event_id(gw: Gateway) -> None:
    await _finished_job_with_history(gw)

    async with gw.http.get("/api/v1/jobs/job-1/events", headers={**CLIENT, "Last-Event-ID": "1"}) as resp:
        events = _parse(await resp.text())

    assert [(e["event"], e.get("id")) for e in events] == [("history", "2"), ("job", None), ("end", None)]


async def test_events_follow_a_running_job_until_it_ends(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_events, "POLL_SECONDS", 0.01)
    state = await put_job(gw, job_id="job-1", status=RUNNING)
    async with gw.http.get("/api/v1/jobs/job-1/events", headers=CLIENT) as resp:
        first = _parse((await resp.content.readuntil(b"\n\n")).decode())
        assert first[0]["event"] == "job" and first[0]["data"]["status"] == RUNNING
        assert first[0]["data"]["state_history"] == {}
        state.status = FINISHED
        await gw.store.commit_job(state, 1, history=[HistoryEvent(at=NOW, event="job_ended", state="start")])
        rest = _parse((await resp.content.read()).decode())

    assert [e["event"] for e in rest] == ["history", "job", "end"]


async def test_events_close_after_the_longest_stream(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_events, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(job_events, "HEARTBEAT_SECONDS", 0.0)
    monkeypatch.setattr(job_events, "MAX_STREAM_SECONDS", 0.05)
    await put_job(gw, job_id="job-1", status=RUNNING)

    async with gw.http.get("/api/v1/jobs/job-1/events", headers=CLIENT) as resp:
        events = _parse(await resp.text())  # returns: the gateway closed the stream

    assert events[0]["event"] == "job"
    assert any("comment" in e for e in events)  # heartbeats while nothing happened
    assert not any(e.get("event") == "end" for e in events)


@pytest.mark.parametrize("last", ["x", "-1", "1.5"])
async def test_a_bad_last_event_id_is_400(gw: Gateway, last: str) -> None:
    await put_job(gw, job_id="job-1")
    async with gw.http.get("/api/v1/jobs/job-1/events", headers={**CLIENT, "Last-Event-ID": last}) as resp:
        assert resp.status == 400
        assert "Last-Event-ID" in (await resp.json())["error"]


async def test_events_of_another_clients_job_are_404(gw: Gateway) -> None:
    await put_job(gw, job_id="job-1", client_id=client_id_of("another-token"))
    async with gw.http.get("/api/v1/jobs/job-1/events", headers=CLIENT) as resp:
        assert resp.status == 404


async def test_root_redirects_to_the_console_which_carries_a_csp(gw: Gateway) -> None:
    async with gw.http.get("/", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/ui/"
    async with gw.http.get("/ui/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert '<script type="module" src="/ui/app.js">' in await resp.text()
    async with gw.http.get("/ui/app.js") as resp:
        assert resp.content_type == "text/javascript"


@pytest.mark.parametrize("name", ["nothing.js", "..%2Fconsole_ui.py", "%2E%2E/app.py"])
async def test_a_file_outside_the_console_is_404(gw: Gateway, name: str) -> None:
    async with gw.http.get(f"/ui/{name}") as resp:
        assert resp.status == 404


def test_the_console_is_small_and_loads_nothing_from_elsewhere() -> None:
    files = console_ui.load_files()
    assert {"index.html", "app.js", "pages.js", "job.js", "console.css"} <= files.keys()
    assert sum(len(body) for body, _ in files.values()) < 64 * 1024
    for body, _ in files.values():
        assert b"http://" not in body.replace(b"http://www.w3.org", b"") and b"https://" not in body


def test_the_console_ships_in_the_package() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "console/*" in pyproject["tool"]["setuptools"]["package-data"]["transport.gateway"]
