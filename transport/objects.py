"""``ObjectStore`` on obstore: S3 (any S3-protocol server), a local directory, or memory.

One adapter for the three obstore stores, so they behave alike (the conformance suite runs on
each); only S3 presigns. Uploads stream in parts of ``part_size`` bytes with at most
``concurrency`` parts in flight, so an upload holds at most about ``part_size * (concurrency +
1)`` bytes, whatever the object's size. While the bytes go out their MD5 is computed, and for
S3 the ETag S3 reports is checked against it: the plain MD5 for a single-part upload, the MD5 of
the parts' MD5s for a multipart one (``md5-of-parts-N``). A mismatch removes the object and
raises ``ObjectIntegrityError``.

Errors leave as the project's own (``engine.errors``): ``ObjectNotFound`` for a missing key,
``ObjectStoreUnavailable`` for a store that does not answer or answers with a server error.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import obstore
from obstore.exceptions import GenericError
from obstore.store import LocalStore, MemoryStore, S3Store

from actors.ports.objects import Method, ObjectInfo
from engine.errors import ObjectIntegrityError, ObjectNotFound, ObjectStoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")

PART_SIZE = 5 * 1024 * 1024  # S3's smallest part
READ_CHUNK = 1024 * 1024  # what ``get`` yields at a time (the last chunk may be smaller)
_DELETE_BATCH = 1000  # S3's bulk delete takes at most this many keys


def _translated(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except FileNotFoundError as exc:
            raise ObjectNotFound(str(kwargs.get("key", args[1] if len(args) > 1 else ""))) from exc
        except (GenericError, ConnectionError, TimeoutError) as exc:
            raise ObjectStoreUnavailable(f"the object store is unavailable: {exc}".splitlines()[0]) from exc

    return call


class _Digest:
    """Size, MD5, and the MD5 of each ``part_size`` part, of bytes as they stream past."""

    def __init__(self, part_size: int) -> None:
        self.size, self._part_size = 0, part_size
        self._whole, self._part, self._in_part = hashlib.md5(), hashlib.md5(), 0
        self._parts: list[bytes] = []

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._whole.update(chunk)
        view = memoryview(chunk)
        while view:
            take = min(len(view), self._part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self._part_size:
                self._parts.append(self._part.digest())
                self._part, self._in_part = hashlib.md5(), 0

    @property
    def md5(self) -> str:
        return self._whole.hexdigest()

    def multipart_etag(self) -> str:
        parts = self._parts + ([self._part.digest()] if self._in_part or not self._parts else [])
        return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


class _Reader:
    def __init__(self, info: ObjectInfo, stream: AsyncIterator[bytes]) -> None:
        self.info, self._stream = info, stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield bytes(chunk)
        except (GenericError, ConnectionError, TimeoutError) as exc:
            raise ObjectStoreUnavailable(f"the object store stopped sending {self.info.key!r}: {exc}") from exc


class ObstoreObjects:
    """``ObjectStore`` over an obstore store; ``bucket`` is set for S3 (it presigns)."""

    def __init__(
        self,
        store: S3Store | LocalStore | MemoryStore,
        *,
        bucket: str | None = None,
        part_size: int = PART_SIZE,
        concurrency: int = 2,
    ) -> None:
        self._store, self._bucket = store, bucket
        self._part_size, self._concurrency = part_size, concurrency

    @property
    def bucket(self) -> str | None:
        return self._bucket

    @_translated
    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        digest = _Digest(self._part_size)
        # Only S3 keeps attributes: the local store refuses them (obstore's NotImplemented).
        attributes: Any = {"Content-Type": content_type} if content_type and self._bucket is not None else None
        if isinstance(data, bytes):
            digest.update(data)
            result = await obstore.put_async(self._store, key, data, attributes=attributes, use_multipart=False)
            expected = digest.md5
        else:
            result = await obstore.put_async(
                self._store, key, _digested(data, digest), attributes=attributes,
                chunk_size=self._part_size, max_concurrency=self._concurrency,
            )  # fmt: skip
            expected = digest.multipart_etag()
        etag = _unquote(result.get("e_tag"))
        if self._bucket is not None and etag is not None and etag != expected:
            await obstore.delete_async(self._store, key)
            raise ObjectIntegrityError(f"{key!r}: the store's ETag {etag} does not match the bytes sent ({expected})")
        return ObjectInfo(key, digest.size, etag, digest.md5)

    @_translated
    async def get(self, key: str) -> _Reader:
        result = await obstore.get_async(self._store, key)
        meta = result.meta
        info = ObjectInfo(key, meta["size"], _unquote(meta["e_tag"]))
        return _Reader(info, result.stream(min_chunk_size=READ_CHUNK))

    @_translated
    async def head(self, key: str) -> ObjectInfo:
        meta = await obstore.head_async(self._store, key)
        return ObjectInfo(key, meta["size"], _unquote(meta["e_tag"]))

    @_translated
    async def list(self, prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        async for batch in obstore.list(self._store, prefix=prefix.rstrip("/") or None, chunk_size=_DELETE_BATCH):
            found += [ObjectInfo(m["path"], m["size"], _unquote(m["e_tag"])) for m in batch]
        return sorted(found, key=lambda info: info.key)

    async def delete_prefix(self, prefix: str) -> int:
        keys = [info.key for info in await self.list(prefix)]
        if not prefix.endswith("/"):  # the object named ``prefix`` itself, if there is one
            with contextlib.suppress(ObjectNotFound):
                keys.append((await self.head(prefix)).key)
        for start in range(0, len(keys), _DELETE_BATCH):
            await self._delete(keys[start : start + _DELETE_BATCH])
        return len(keys)

    @_translated
    async def _delete(self, keys: Sequence[str]) -> None:
        await obstore.delete_async(self._store, keys)

    @_translated
    async def presign(self, method: Method, key: str, expires: float) -> str | None:
        if not isinstance(self._store, S3Store):
            return None
        return await obstore.sign_async(self._store, method, key, datetime.timedelta(seconds=expires))

    async def close(self) -> None:
        """Nothing to release: obstore's connection pool goes with the store object."""


async def _digested(data: AsyncIterable[bytes], digest: _Digest) -> AsyncIterator[bytes]:
    async for chunk in data:
        digest.update(chunk)
        yield chunk


def _unquote(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


def s3_objects(*, endpoint: str, access_key: str, secret_key: str, bucket: str, region: str) -> ObstoreObjects:
    """The S3 bucket ``bucket`` at ``endpoint`` (path-style requests, as MinIO and moto need)."""
    store = S3Store(
        bucket,
        endpoint=endpoint,
        access_key_id=access_key,
        secret_access_key=secret_key,
        region=region,
        virtual_hosted_style_request=False,
        client_options={"allow_http": endpoint.startswith("http://"), "timeout": "120s", "connect_timeout": "5s"},
        retry_config={"max_retries": 3, "retry_timeout": datetime.timedelta(seconds=30)},
    )
    return ObstoreObjects(store, bucket=bucket)


def local_objects(root: str | Path) -> ObstoreObjects:
    """Objects as files under ``root`` (created if missing); keys are paths below it."""
    Path(root).mkdir(parents=True, exist_ok=True)
    return ObstoreObjects(LocalStore(Path(root).resolve(), mkdir=True))


def memory_objects() -> ObstoreObjects:
    """Objects in this process's memory: the fake beside the real stores, for tests."""
    return ObstoreObjects(MemoryStore())
