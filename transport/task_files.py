"""``task_files``: a job's files, for its blueprint handlers, as in avtomatika's seed.

Every name is relative to the job's prefix ``{job_id}/`` in the object store; a name that would
leave it (``..``, an absolute path, a backslash, an empty segment) raises ``ValueError``. A
"directory" is a name prefix: ``upload`` of a local directory stores each file under
``name/relative/path``, ``download`` of such a name writes them all back.

Transfers stream: a file goes out and comes back in chunks, never whole in memory (the object
store's parts: at most about 15 MiB in flight per upload). ``read_*`` return the whole object,
as their callers ask for it.

``download`` without a destination writes under ``TASK_FILES_DIR/{job_id}/``, in a directory of
this handler call that is removed when the handler returns (``aclose``): a later step, maybe on
another node, downloads again. A destination given explicitly is the caller's to remove.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from actors.ports.objects import Method, ObjectInfo, ObjectStore
from engine.errors import ObjectNotFound

CHUNK = 1024 * 1024  # bytes read from a local file at a time


def checked_name(name: str) -> str:
    """``name`` if it stays inside a job's prefix, else ``ValueError`` saying why."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        raise ValueError(f"file name {name!r} must be a non-empty relative path with '/' separators")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):  # object store keys refuse controls
        raise ValueError(f"file name {name!r} must not contain control characters")
    if any(part in ("", ".", "..") for part in name.rstrip("/").split("/")):
        raise ValueError(f"file name {name!r} must not contain empty, '.' or '..' segments")
    return name


class TaskFiles:
    """The files of job ``job_id`` (``objects`` keys ``{job_id}/...``). ``touched`` runs before the
    first write (it schedules the job's purge, ``actors.files``)."""

    def __init__(
        self, objects: ObjectStore, job_id: str, local_root: Path, touched: Callable[[], Awaitable[None]]
    ) -> None:
        self._objects, self.job_id, self._touched = objects, job_id, touched
        self._local_root = local_root / job_id
        self._scratch: Path | None = None

    @property
    def prefix(self) -> str:
        return f"{self.job_id}/"

    def key(self, name: str) -> str:
        return self.prefix + checked_name(name)

    def uri(self, name: str) -> str:
        """``s3://bucket/{job_id}/name`` on S3 (what workers understand), else the key."""
        bucket = self._objects.bucket
        return f"s3://{bucket}/{self.key(name)}" if bucket else self.key(name)

    # -- whole objects ------------------------------------------------------------------------

    async def write_bytes(self, name: str, data: bytes) -> ObjectInfo:
        await self._touched()
        return await self._objects.put(self.key(name), data)

    async def read_bytes(self, name: str) -> bytes:
        reader = await self._objects.get(self.key(name))
        return b"".join([chunk async for chunk in reader])

    async def write_text(self, name: str, text: str, encoding: str = "utf-8") -> ObjectInfo:
        return await self.write_bytes(name, text.encode(encoding))

    async def read_text(self, name: str, encoding: str = "utf-8") -> str:
        return (await self.read_bytes(name)).decode(encoding)

    async def write_json(self, name: str, data: Any) -> ObjectInfo:
        await self._touched()
        return await self._objects.put(self.key(name), orjson.dumps(data), content_type="application/json")

    async def read_json(self, name: str) -> Any:
        return orjson.loads(await self.read_bytes(name))

    # -- streams, files and directories -------------------------------------------------------

    async def upload_stream(self, name: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        await self._touched()
        return await self._objects.put(self.key(name), chunks)

    async def upload(self, local_path: str | Path, name: str | None = None) -> ObjectInfo | list[ObjectInfo]:
        """Stream a local file to ``name`` (default: its file name), or a directory's files,
        recursively, under ``name/``; returns what was stored."""
        path = Path(local_path)
        target = checked_name(name or path.name)
        files = await asyncio.to_thread(_files_below, path)
        if files is None:
            return await self.upload_stream(target, _read_file(path))
        return [await self.upload_stream(f"{target.rstrip('/')}/{p.relative_to(path).as_posix()}", _read_file(p))
                for p in files]  # fmt: skip

    async def download(self, name: str, local_path: str | Path | None = None) -> Path:
        """Stream ``name`` to ``local_path`` (default: under this call's scratch directory) and
        return the path; a directory name downloads every file below it. ``ObjectNotFound`` if
        there is neither."""
        key = self.key(name)
        target = Path(local_path) if local_path is not None else self._scratch_dir() / name
        try:
            await self._download_one(key, target)
            return target
        except ObjectNotFound:
            below = await self._objects.list(key.rstrip("/") + "/")
            if not below:
                raise
        for info in below:
            await self._download_one(info.key, target / info.key[len(key.rstrip("/")) + 1 :])
        return target

    async def _download_one(self, key: str, target: Path) -> None:
        reader = await self._objects.get(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(target.open, "wb")
        try:
            async for chunk in reader:
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)

    # -- the prefix ---------------------------------------------------------------------------

    async def list(self, prefix: str = "") -> list[str]:
        """The names of the job's files (below ``prefix``, a directory name, if given), sorted."""
        where = self.prefix + (checked_name(prefix).rstrip("/") + "/" if prefix else "")
        return [info.key[len(self.prefix) :] for info in await self._objects.list(where)]

    async def exists(self, name: str) -> bool:
        try:
            await self._objects.head(self.key(name))
        except ObjectNotFound:
            return False
        return True

    async def delete(self, name: str) -> int:
        """Delete ``name``, or every file below it if it is a directory name; returns how many."""
        key = self.key(name)
        return await self._objects.delete_prefix(key)

    async def presigned_url(self, name: str, method: Method = "GET", expires_in: float = 3600) -> str | None:
        """A URL that reads (or, with ``PUT``, writes) ``name`` without credentials; None when
        the store cannot sign (the local directory store)."""
        return await self._objects.presign(method, self.key(name), expires_in)

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = self._local_root / uuid.uuid4().hex
        return self._scratch

    async def aclose(self) -> None:
        """Remove this call's scratch directory (what ``download`` wrote by default). Idempotent."""
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    def __repr__(self) -> str:
        return f"TaskFiles({self.prefix!r})"


def _files_below(path: Path) -> list[Path] | None:
    """The files below directory ``path``, sorted; None if ``path`` is not a directory."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else None


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
