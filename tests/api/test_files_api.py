"""The file routes and the gateway's object links, on the local store (the gateway streams and
signs) and on S3 (moto: presigned URLs), and what the gateway does with references and
``data_metadata`` on the worker's path."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rxon.models import FileMetadata, TaskResult

from actors.files import Purges
from engine.job import FINISHED
from engine.messages import TaskDone, TaskOffer
from engine.objects import check_in
from engine.registry import BlueprintRegistry
from tests.api.conftest import CLIENT, CLIENT_TOKEN, NOW, SECRET, WORKER_TOKEN, Gateway, put_job, wire, worker_headers
from tests.api.test_tasks import poll, register
from tests.blueprints import tiny_blueprint
from tests.support.clock import FakeClock
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, new_bucket
from transport.app.settings import Settings
from transport.gateway import GatewayContext, build_app
from transport.gateway.context import CONTEXT
from transport.job_files import JobFiles
from transport.memory import MemoryBroker, MemoryStore
from transport.objects import local_objects, s3_objects

FILES = "/api/v1/jobs/job-1/files"


@pytest.fixture(params=["local", "s3"])
async def gw(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Gateway]:
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        objects = s3_objects(endpoint=server.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                             bucket=new_bucket(server), region=REGION)  # fmt: skip
    else:
        objects = local_objects(tmp_path / "objects")
    settings = Settings(client_token=CLIENT_TOKEN, global_worker_token=WORKER_TOKEN,
                        orchestrator_secret_key=SECRET, max_request_body_bytes=4096)  # fmt: skip
    registry = BlueprintRegistry()
    registry.register(tiny_blueprint())
    store, broker, clock = MemoryStore(), MemoryBroker(), FakeClock(NOW)
    files = JobFiles(objects, inline_limit=1024, task_files_dir=tmp_path / "task-files",
                     purges=Purges(store, clock, after=60))  # fmt: skip
    app = build_app(GatewayContext(settings, store, broker, registry, clock, files=files))
    async with TestClient(TestServer(app)) as http:
        yield Gateway(http, store, broker, clock, settings)
    await broker.close()
    await store.close()


def files_of(gw: Gateway) -> JobFiles:
    files = gw.http.app[CONTEXT].files
    assert isinstance(files, JobFiles)
    return files


async def fetch(gw: Gateway, url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes, Any]:
    """Follow ``url`` as a client without credentials would: the gateway's own, or S3's."""
    headers = {"Content-Type": "application/octet-stream"}
    if url.startswith(str(gw.http.make_url(""))):
        resp = await gw.http.request(method, url[len(str(gw.http.make_url(""))) :], data=data, headers=headers)
        return resp.status, await resp.read(), resp.headers
    async with aiohttp.ClientSession() as session, session.request(method, url, data=data, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def test_a_streamed_upload_downloads_as_the_same_bytes(gw: Gateway) -> None:
    await put_job(gw)
    body = bytes(range(256)) * 400  # 100 KiB: larger than MAX_REQUEST_BODY_BYTES, which uploads skip
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    resp = await gw.http.put(f"{FILES}/content/in/data.bin", data=body, headers={**CLIENT, "Content-MD5": md5})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert (answer["status"], answer["key"], answer["size"]) == ("uploaded", "job-1/in/data.bin", len(body))
    assert answer["md5"] == hashlib.md5(body).hexdigest()

    resp = await gw.http.get(f"{FILES}/download/in/data.bin", headers=CLIENT, allow_redirects=False)
    if resp.status == 302:  # S3: the presigned URL, with the size and ETag to expect
        assert resp.headers["X-Object-Size"] == str(len(body))
        status, data, headers = await fetch(gw, resp.headers["Location"])
        assert headers["ETag"].strip('"') == answer["etag"]
    else:
        status, data, headers = resp.status, await resp.read(), resp.headers
        assert headers["ETag"].strip('"') == answer["etag"]
        assert headers["Content-Length"] == str(len(body))
    assert (status, data) == (200, body)


async def test_a_presigned_put_then_a_download(gw: Gateway) -> None:
    await put_job(gw)
    resp = await gw.http.get(f"{FILES}/upload", params={"filename": "report.txt", "expires_in": "600"}, headers=CLIENT)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert (answer["method"], answer["expires_in"], answer["key"]) == ("PUT", 600, "job-1/report.txt")
    status, _, _ = await fetch(gw, answer["url"], "PUT", b"hello report")
    assert status == 200

    resp = await gw.http.get(f"{FILES}/download/report.txt", headers=CLIENT)  # redirects followed
    assert (resp.status, await resp.read()) == (200, b"hello report")


@pytest.mark.parametrize("name", ["../job-2/x", "..%2Fjob-2%2Fx", "a//b", "%2Fetc%2Fpasswd"])
async def test_a_name_leaving_the_job_is_a_400_naming_it(gw: Gateway, name: str) -> None:
    await put_job(gw)
    resp = await gw.http.put(f"{FILES}/content/{name}", data=b"x", headers=CLIENT)
    assert resp.status in (400, 404), await resp.text()  # 404: the client's URL normalisation left the route
    if resp.status == 400:
        assert "file name" in (await resp.json())["error"]
    resp = await gw.http.get(f"{FILES}/upload", params={"filename": "../x"}, headers=CLIENT)
    assert resp.status == 400
    assert "'..'" in (await resp.json())["error"]


async def test_a_wrong_content_md5_is_refused_and_nothing_is_kept(gw: Gateway) -> None:
    await put_job(gw)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    resp = await gw.http.put(f"{FILES}/content/a.txt", data=b"data", headers={**CLIENT, "Content-MD5": wrong})
    assert resp.status == 400
    assert "Content-MD5" in (await resp.json())["error"]
    assert await files_of(gw).objects.list("job-1/") == []


async def test_another_clients_job_and_missing_files_are_404(gw: Gateway) -> None:
    await put_job(gw, client_id="someone-else")
    resp = await gw.http.put(f"{FILES}/content/a.txt", data=b"data", headers=CLIENT)
    assert resp.status == 404
    await put_job(gw, job_id="job-2")
    resp = await gw.http.get("/api/v1/jobs/job-2/files/download/none.txt", headers=CLIENT)
    assert resp.status == 404
    assert "none.txt" in (await resp.json())["error"]


async def test_a_signed_link_needs_its_signature_and_expires(gw: Gateway) -> None:
    if files_of(gw).objects.bucket is not None:
        pytest.skip("S3 presigns: the gateway's links serve only the local store")
    await put_job(gw)
    await files_of(gw).objects.put("job-1/a.txt", b"a")
    resp = await gw.http.get(f"{FILES}/upload", params={"filename": "b.txt"}, headers=CLIENT)
    url = (await resp.json())["url"]
    path = url[len(str(gw.http.make_url(""))) :]
    forged = path.replace("b.txt", "a.txt")
    assert (await gw.http.get(forged)).status == 403  # a PUT link for b.txt reads nothing
    assert (await gw.http.put(forged, data=b"x")).status == 403
    gw.clock.advance(3601)
    resp = await gw.http.put(path, data=b"late")
    assert resp.status == 403
    assert "expired" in (await resp.json())["error"]


# -- the worker's path --------------------------------------------------------------------------


async def test_a_referenced_param_reaches_the_worker_as_a_url_of_its_value(gw: Gateway) -> None:
    await register(gw)
    await put_job(gw, task_id="t1")
    params = await check_in(files_of(gw), "job-1", "tasks/t1", {"text": "y" * 3000, "n": 2})
    await gw.store.push_task(TaskOffer(job_id="job-1", task_id="t1", type="echo", params=params))
    resp = await poll(gw)
    assert resp.status == 200, await resp.text()
    payload = await resp.json()
    url = payload["params"]["text"]
    assert url.startswith("http") and "s3://" not in url
    assert payload["params"]["n"] == 2
    status, data, _ = await fetch(gw, url)
    assert (status, data) == (200, b'"' + b"y" * 3000 + b'"')


async def _result(gw: Gateway, metadata: dict[str, FileMetadata]) -> TaskDone:
    await register(gw)
    await put_job(gw, task_id="t1")
    result = TaskResult(job_id="job-1", task_id="t1", worker_id="w1", data={"out": metadata["out"].uri},
                        data_metadata=metadata)  # fmt: skip
    resp = await gw.http.post("/_worker/tasks/result", headers=worker_headers("w1"), data=wire(result))
    assert resp.status == 200, await resp.text()
    [done] = gw.published(TaskDone)
    assert isinstance(done.body, TaskDone)
    return done.body


async def test_the_workers_data_metadata_is_checked_and_carried(gw: Gateway) -> None:
    objects = files_of(gw).objects
    if objects.bucket is None:
        pytest.skip("the SDK uploads result files to S3 only")
    info = await objects.put("job-1/out.bin", b"result bytes")
    uri = f"s3://{objects.bucket}/job-1/out.bin"
    done = await _result(gw, {"out": FileMetadata(uri=uri, size=12, etag=info.etag)})
    assert done.status == "success"
    assert done.files == {"out": {"uri": uri, "size": 12, "etag": info.etag}}
    assert [d.envelope.id for d in await gw.store.due(NOW + 60, 10)] == ["purge:job-1:0"]  # purged with the job


async def test_a_result_file_of_another_size_fails_the_task_as_an_integrity_mismatch(gw: Gateway) -> None:
    objects = files_of(gw).objects
    if objects.bucket is None:
        pytest.skip("the SDK uploads result files to S3 only")
    await objects.put("job-1/out.bin", b"result bytes")
    done = await _result(gw, {"out": FileMetadata(uri=f"s3://{objects.bucket}/job-1/out.bin", size=99)})
    assert (done.status, done.error_code) == ("failure", "INTEGRITY_MISMATCH_ERROR")
    assert "99" in (done.error_message or "")


async def test_the_job_view_shows_the_jobs_s3_files_as_presigned_urls(gw: Gateway) -> None:
    objects = files_of(gw).objects
    if objects.bucket is None:
        pytest.skip("no s3:// URIs without S3")
    await objects.put("job-1/out.bin", b"result bytes")
    uri = f"s3://{objects.bucket}/job-1/out.bin"
    await put_job(gw, status=FINISHED, state_history={"out": uri, "other": "s3://elsewhere/x", "n": [uri]})
    resp = await gw.http.get("/api/v1/jobs/job-1", headers=CLIENT)
    result = (await resp.json())["result"]
    assert result["other"] == "s3://elsewhere/x"
    assert result["out"].startswith("http") and result["n"] == [result["out"]]
    status, data, _ = await fetch(gw, result["out"])
    assert (status, data) == (200, b"result bytes")


async def test_a_large_initial_data_is_stored_by_reference(gw: Gateway) -> None:
    resp = await gw.http.post("/api/v1/jobs/tiny", json={"initial_data": {"blob": "z" * 3000}}, headers=CLIENT)
    assert resp.status == 202, await resp.text()
    job_id = (await resp.json())["job_id"]
    state = await gw.store.load_job(job_id)
    assert state is not None
    assert "$avtomat_object" in state.initial_data["blob"]
    assert [i.key.split("/")[1] for i in await files_of(gw).objects.list(f"{job_id}/")] == ["payloads"]


async def test_the_file_list_names_each_file_with_a_link_that_needs_no_token(gw: Gateway) -> None:
    await put_job(gw)
    await put_job(gw, job_id="job-2")
    await files_of(gw).objects.put("job-1/out/b.txt", b"bee")
    await files_of(gw).objects.put("job-1/a.txt", b"a")
    await files_of(gw).objects.put("job-2/other.txt", b"not job-1's")

    resp = await gw.http.get(FILES, headers=CLIENT)
    assert resp.status == 200
    listed = await resp.json()

    assert [(f["name"], f["size"], f["download"]) for f in listed] == [
        ("a.txt", 1, f"{FILES}/download/a.txt"),
        ("out/b.txt", 3, f"{FILES}/download/out/b.txt"),
    ]
    status, data, _ = await fetch(gw, listed[1]["url"])  # no X-Client-Token
    assert (status, data) == (200, b"bee")
