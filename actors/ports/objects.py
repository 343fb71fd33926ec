"""Object storage: large payloads and the files of a job, under keys ``{job_id}/...``.

The store is a flat key space (S3 semantics, also for the local-directory store): a "directory"
is a key prefix ending in ``/``. Guarantees every implementation honours (``tests/conformance``):

- ``put`` is atomic: readers see the whole new object or the old one, never a part; it streams
  (the chunks are sent as they come, never gathered in memory) and overwrites.
- ``get`` streams: ``ObjectReader`` yields the bytes in chunks and carries the object's size and
  ETag, read when the download started.
- ``delete_prefix`` removes every object under a prefix; idempotent (an empty prefix is fine).
- Errors: a missing key raises ``ObjectNotFound``; the store being away raises
  ``ObjectStoreUnavailable`` (retryable); anything else is a bug or a configuration error.
- ``presign`` returns a URL anyone may use for ``expires`` seconds without credentials, or None
  when the store cannot sign (the local directory): the gateway then serves the bytes itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

Method = Literal["GET", "PUT"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object. ``etag`` is the store's, unquoted (S3: the MD5 of a single-part
    upload, ``md5-of-parts-N`` for a multipart one; the local store: not a hash). ``md5`` is the
    hex MD5 of the bytes when the caller computed it (``put`` does), else None."""

    key: str
    size: int
    etag: str | None = None
    md5: str | None = None


class ObjectReader(Protocol):
    """An object being downloaded: ``info`` first, then the bytes, chunk by chunk."""

    info: ObjectInfo

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class ObjectStore(Protocol):
    @property
    def bucket(self) -> str | None:
        """The S3 bucket the keys live in, or None for a store that is not S3."""

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        """Store ``data`` under ``key`` (streamed), replacing any object there; returns its size,
        the store's ETag and the MD5 of the bytes sent. Raises ``ObjectIntegrityError`` when the
        store's ETag is an MD5 (S3) that does not match the bytes sent (the object is removed)."""

    async def get(self, key: str) -> ObjectReader: ...

    async def head(self, key: str) -> ObjectInfo: ...

    async def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a whole path segment: ``"a/b"`` lists
        ``a/b/...``, not ``a/bc``), sorted by key."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix`` (as ``list`` reads it) and, unless ``prefix`` ends
        with ``/``, the object named ``prefix`` itself; returns how many."""

    async def presign(self, method: Method, key: str, expires: float) -> str | None: ...

    async def close(self) -> None: ...
