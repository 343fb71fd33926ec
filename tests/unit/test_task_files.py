"""A handler's ``task_files`` (``transport/task_files.py``) on the in-memory object store: the
seed's calls, scoped to the job's prefix, streaming files and whole directories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.errors import ObjectNotFound
from transport.objects import ObstoreObjects, memory_objects
from transport.task_files import TaskFiles


@pytest.fixture
def objects() -> ObstoreObjects:
    return memory_objects()


@pytest.fixture
def touched() -> list[str]:
    return []


@pytest.fixture
def files(objects: ObstoreObjects, tmp_path: Path, touched: list[str]) -> TaskFiles:
    async def touch() -> None:
        touched.append("job-1")

    return TaskFiles(objects, "job-1", tmp_path / "local", touch)


async def test_json_text_and_bytes_round_trip_under_the_job_prefix(files: TaskFiles, objects: ObstoreObjects) -> None:
    await files.write_json("results.json", {"status": "done"})
    await files.write_text("notes/readme.txt", "héllo")
    await files.write_bytes("raw.bin", b"\x00\x01")

    assert await files.read_json("results.json") == {"status": "done"}
    assert await files.read_text("notes/readme.txt") == "héllo"
    assert await files.read_bytes("raw.bin") == b"\x00\x01"
    assert await files.list() == ["notes/readme.txt", "raw.bin", "results.json"]
    assert await files.list("notes") == ["notes/readme.txt"]
    stored = [i.key for i in await objects.list("job-1/")]
    assert stored == ["job-1/notes/readme.txt", "job-1/raw.bin", "job-1/results.json"]
    assert await files.exists("raw.bin") and not await files.exists("nope")


async def test_the_first_write_is_announced_before_it_happens(files: TaskFiles, touched: list[str]) -> None:
    assert await files.list() == []
    assert touched == []
    await files.write_text("a.txt", "x")
    assert touched == ["job-1"]


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a//b", "a/./b", "", "a\\b"])
async def test_a_name_leaving_the_prefix_is_refused(files: TaskFiles, name: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        await files.write_text(name, "x")


async def test_a_file_uploads_and_downloads_streamed(files: TaskFiles, tmp_path: Path) -> None:
    source = tmp_path / "large_dataset.csv"
    source.write_bytes(b"a,b\n" * 600_000)  # 2.4 MB, several read chunks
    info = await files.upload(source)
    assert not isinstance(info, list) and info.size == source.stat().st_size

    local = await files.download("large_dataset.csv")
    assert local.read_bytes() == source.read_bytes()
    assert str(local).startswith(str(tmp_path / "local" / "job-1"))
    await files.aclose()
    assert not local.exists()  # the call's scratch directory goes when the handler returns


async def test_a_directory_uploads_and_downloads_whole(files: TaskFiles, tmp_path: Path) -> None:
    tree = tmp_path / "frames"
    (tree / "sub").mkdir(parents=True)
    (tree / "1.txt").write_text("one")
    (tree / "sub" / "2.txt").write_text("two")
    stored = await files.upload(tree, "frames")
    assert isinstance(stored, list) and len(stored) == 2
    assert await files.list("frames") == ["frames/1.txt", "frames/sub/2.txt"]

    target = await files.download("frames", tmp_path / "back")
    assert (target / "1.txt").read_text() == "one"
    assert (target / "sub" / "2.txt").read_text() == "two"
    assert await files.delete("frames") == 2
    assert await files.list() == []


async def test_downloading_nothing_raises_object_not_found(files: TaskFiles) -> None:
    with pytest.raises(ObjectNotFound):
        await files.download("missing.csv")


async def test_a_stream_uploads_without_a_local_file(files: TaskFiles) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part {i};".encode()

    info = await files.upload_stream("stream.txt", chunks())
    assert info.size == 21
    assert await files.read_text("stream.txt") == "part 0;part 1;part 2;"
    assert files.uri("stream.txt") == "job-1/stream.txt"  # not S3: the key
    assert await files.presigned_url("stream.txt") is None
