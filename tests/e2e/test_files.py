"""Object storage end to end, on both runtimes with S3 (moto's server in the test process):

- an unmodified SDK worker (``S3_ENDPOINT_URL`` set) uploads a result file, and the client
  downloads the same bytes through the presigned URL the job view shows, and through the
  download route;
- a large ``initial_data`` goes to the object store: the handler sees the value, the worker gets
  a presigned HTTPS URL it downloads;
- the seed README's ``task_files`` example finishes its job (the client uploads its input first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.client import Client
from tests.e2e.conftest import Orchestrator, launch, start_sdk_worker
from tests.support.s3 import S3Server, new_bucket

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    return new_bucket(s3_server)


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, bucket: str
) -> Iterator[Orchestrator]:
    yield from launch(request.param, tmp_path_factory, **s3_server.env(bucket))


@pytest.fixture(scope="module")
def s3_worker(
    orchestrator: Orchestrator, marker_dir: Path, tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
    bucket: str,
) -> Iterator[str]:  # fmt: skip
    files = tmp_path_factory.mktemp("worker-files")
    with start_sdk_worker(orchestrator, "e2e-s3-worker", marker_dir, tmp_path_factory,
                          TASK_FILES_DIR=str(files), **s3_server.env(bucket)):  # fmt: skip
        yield "e2e-s3-worker"


def expected_bytes(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


async def test_a_workers_result_file_downloads_as_the_same_bytes(client: Client, s3_worker: str, bucket: str) -> None:
    size = 6 * 1024 * 1024 + 123  # above one S3 part
    job_id = await client.submit("result_file", {"initial_data": {"size": size}})
    state = await client.reach(job_id, "finished", timeout=60)

    url = state["result"]["file"]
    assert url.startswith("http://127.0.0.1") and "X-Amz-Signature" in url  # presigned, not s3://
    meta = state["data_metadata"]["file"]
    assert meta["size"] == size and meta["uri"].startswith(f"s3://{bucket}/{job_id}/")
    assert meta["url"].split("?")[0] == url.split("?")[0]
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert hashlib.md5(body).digest() == hashlib.md5(expected_bytes(size)).digest()

    name = meta["uri"].split(f"{job_id}/", 1)[1]
    async with client.http.get(f"{client.orch.url}/api/v1/jobs/{job_id}/files/download/{name}") as resp:
        assert resp.status == 200  # the redirect to S3, followed
        assert await resp.read() == body


async def test_a_large_initial_data_reaches_the_worker_as_a_presigned_url(client: Client, s3_worker: str) -> None:
    blob = "b" * 300_000  # above PAYLOAD_INLINE_LIMIT_BYTES (256 KiB), below MAX_REQUEST_BODY_BYTES
    job_id = await client.submit("big_input", {"initial_data": {"blob": blob}})
    state = await client.reach(job_id, "finished", timeout=60)

    assert state["result"]["seen_by_handler"] == len(blob)
    assert (state["result"]["url_scheme"], state["result"]["fetched"]) == ("http", len(blob))


async def test_the_seed_task_files_example_finishes(client: Client) -> None:
    job_id = await client.submit("seed_files", {"initial_data": {}})
    await client.reach(job_id, "waiting_for_human")
    files = f"{client.orch.url}/api/v1/jobs/{job_id}/files"
    async with client.http.put(f"{files}/content/large_dataset.csv", data=b"a,b\n" * 1000) as resp:
        assert resp.status == 200, await resp.text()
    approve = f"{client.orch.url}/_public/webhooks/approval/{job_id}"
    async with client.http.post(approve, json={"decision": "approve"}) as resp:
        assert resp.status == 200, await resp.text()

    await client.reach(job_id, "finished")
    async with client.http.get(f"{files}/download/results.json") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "done", "rows": 1000}
