"""The ``ObjectStore`` contract (``actors/ports/objects.py``), run on every implementation: the
in-memory fake, the local directory and S3 (moto's server, in process)."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from actors.ports.objects import ObjectStore
from engine.errors import ObjectNotFound, ObjectStoreUnavailable
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, new_bucket
from transport.objects import local_objects, memory_objects, s3_objects

PART = 5 * 1024 * 1024


@pytest.fixture(params=["memory", "local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "memory":
        yield memory_objects()
    elif request.param == "local":
        yield local_objects(tmp_path / "objects")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        yield s3_objects(
            endpoint=server.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
            bucket=new_bucket(server), region=REGION,
        )  # fmt: skip


async def _chunks(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]


async def _read(objects: ObjectStore, key: str) -> bytes:
    reader = await objects.get(key)
    return b"".join([chunk async for chunk in reader])


async def test_put_then_get_returns_the_bytes_size_and_md5(objects: ObjectStore) -> None:
    info = await objects.put("job-1/a.txt", b"hello")
    assert (info.key, info.size, info.md5) == ("job-1/a.txt", 5, hashlib.md5(b"hello").hexdigest())
    reader = await objects.get("job-1/a.txt")
    assert reader.info.size == 5
    assert reader.info.etag == (await objects.head("job-1/a.txt")).etag
    assert b"".join([chunk async for chunk in reader]) == b"hello"


@pytest.mark.parametrize("size", [0, 100, PART, PART + 1, 2 * PART + 17])
async def test_a_streamed_put_stores_every_byte(objects: ObjectStore, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    info = await objects.put("job-1/big.bin", _chunks(data, 1_000_003))
    assert (info.size, info.md5) == (size, hashlib.md5(data).hexdigest())
    assert (await objects.head("job-1/big.bin")).size == size
    assert await _read(objects, "job-1/big.bin") == data


async def test_a_content_type_is_accepted_by_every_store(objects: ObjectStore) -> None:
    await objects.put("job-1/a.json", b"{}", content_type="application/json")
    await objects.put("job-1/b.json", _chunks(b"[]", 1), content_type="application/json")
    assert [i.size for i in await objects.list("job-1/")] == [2, 2]


async def test_put_overwrites(objects: ObjectStore) -> None:
    await objects.put("job-1/a", b"old")
    await objects.put("job-1/a", _chunks(b"new bytes", 4))
    assert await _read(objects, "job-1/a") == b"new bytes"


async def test_a_missing_key_raises_object_not_found(objects: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await objects.get("job-1/missing")
    with pytest.raises(ObjectNotFound):
        await objects.head("job-1/missing")


async def test_list_reads_whole_path_segments_sorted(objects: ObjectStore) -> None:
    for key in ("job-1/b", "job-1/a", "job-1/dir/c", "job-10/x"):
        await objects.put(key, key.encode())
    assert [i.key for i in await objects.list("job-1/")] == ["job-1/a", "job-1/b", "job-1/dir/c"]
    assert [i.key for i in await objects.list("job-1")] == ["job-1/a", "job-1/b", "job-1/dir/c"]
    assert [(i.key, i.size) for i in await objects.list("job-1/dir/")] == [("job-1/dir/c", 11)]
    assert await objects.list("job-2/") == []


async def test_delete_prefix_removes_only_that_prefix_and_is_idempotent(objects: ObjectStore) -> None:
    for key in ("job-1/a", "job-1/dir/b", "job-10/c"):
        await objects.put(key, b"x")
    assert await objects.delete_prefix("job-1/") == 2
    assert await objects.list("job-1/") == []
    assert [i.key for i in await objects.list("job-10/")] == ["job-10/c"]
    assert await objects.delete_prefix("job-1/") == 0


async def test_delete_prefix_without_a_slash_takes_the_object_of_that_name_too(objects: ObjectStore) -> None:
    for key in ("job-1/a", "job-1/dir/b", "job-1/ab"):  # not a/ beside a: a directory cannot be a file
        await objects.put(key, b"x")
    assert await objects.delete_prefix("job-1/a") == 1
    assert await objects.delete_prefix("job-1/dir") == 1
    assert [i.key for i in await objects.list("job-1/")] == ["job-1/ab"]


async def test_presign_works_without_credentials_or_says_it_cannot(objects: ObjectStore) -> None:
    await objects.put("job-1/a.txt", b"signed")
    url = await objects.presign("GET", "job-1/a.txt", 60)
    if objects.bucket is None:
        assert url is None  # the gateway serves such a store's bytes itself
        return
    assert url is not None and url.startswith("http")
    assert _http("GET", url) == b"signed"
    put_url = await objects.presign("PUT", "job-1/up.txt", 60)
    assert put_url is not None
    _http("PUT", put_url, b"uploaded")
    assert await _read(objects, "job-1/up.txt") == b"uploaded"


def _http(method: str, url: str, body: bytes | None = None) -> bytes:
    # An explicit type: urllib's default (a form) is what moto's server would parse the body as.
    headers = {"Content-Type": "application/octet-stream"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


async def test_an_unreachable_s3_server_raises_object_store_unavailable() -> None:
    objects = s3_objects(endpoint="http://127.0.0.1:9", access_key="k", secret_key="s", bucket="nowhere", region=REGION)
    with pytest.raises(ObjectStoreUnavailable):
        await objects.head("job-1/a")
