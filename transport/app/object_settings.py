"""The object store's settings: S3 as upstream names it, or a local directory without it.

- ``S3_ENDPOINT_URL`` set: S3 at that URL (any S3-protocol server: AWS, MinIO, moto), in
  ``S3_DEFAULT_BUCKET`` (which must exist), with ``S3_ACCESS_KEY`` and ``S3_SECRET_KEY`` (both
  required then) and ``S3_REGION``. Keys without an endpoint are an error naming
  ``S3_ENDPOINT_URL`` (for AWS, set ``https://s3.<region>.amazonaws.com``).
- Unset: a local-filesystem store under ``OBJECT_STORE_PATH``, so the embedded runtime works
  with no S3. Every process of a distributed installation must then share that directory (one
  host, or a shared volume); across hosts, use S3.

``TASK_FILES_DIR`` is where handlers' ``task_files.download`` writes; ``PAYLOAD_INLINE_LIMIT_BYTES``
the claim-check threshold; ``PRESIGNED_URL_SECONDS`` how long a handed-out URL works;
``S3_AUTO_CLEANUP`` whether a job's objects are deleted once the job has expired.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from engine import defaults
from engine.errors import ConfigError

T = TypeVar("T")


class Get(Protocol):
    """Read variable ``name`` with ``parse``, or ``default`` when it is unset or blank."""

    def __call__(self, name: str, parse: Callable[[str], T], default: T) -> T: ...


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _in_temp(name: str) -> str:
    return os.path.join(tempfile.gettempdir(), name)


@dataclass(frozen=True, slots=True)
class ObjectSettings:
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = defaults.S3_DEFAULT_BUCKET
    s3_region: str = defaults.S3_REGION
    path: str = _in_temp(defaults.OBJECT_STORE_PATH)
    task_files_dir: str = _in_temp(defaults.TASK_FILES_DIR)
    inline_limit: int = defaults.PAYLOAD_INLINE_LIMIT_BYTES
    url_seconds: float = defaults.PRESIGNED_URL_SECONDS
    auto_cleanup: bool = defaults.S3_AUTO_CLEANUP

    def __post_init__(self) -> None:
        """Raise ``ConfigError`` for S3 half configured: keys without an endpoint, or an
        endpoint without both keys."""
        if not self.s3_endpoint_url:
            given = "S3_ACCESS_KEY" if self.s3_access_key else "S3_SECRET_KEY" if self.s3_secret_key else None
            if given is not None:
                raise ConfigError("S3_ENDPOINT_URL", f"is not set but {given} is: S3 needs its URL")
            return
        for name, value in (("S3_ACCESS_KEY", self.s3_access_key), ("S3_SECRET_KEY", self.s3_secret_key)):
            if not value:
                raise ConfigError(name, "must be set when S3_ENDPOINT_URL is")

    @property
    def s3(self) -> bool:
        return bool(self.s3_endpoint_url)

    @classmethod
    def read(cls, get: Get) -> ObjectSettings:
        d = cls()
        return cls(
            s3_endpoint_url=get("S3_ENDPOINT_URL", _http_url, ""),
            s3_access_key=get("S3_ACCESS_KEY", str, ""),
            s3_secret_key=get("S3_SECRET_KEY", str, ""),
            s3_bucket=get("S3_DEFAULT_BUCKET", _bucket, d.s3_bucket),
            s3_region=get("S3_REGION", _region, d.s3_region),
            path=get("OBJECT_STORE_PATH", _absolute, d.path),
            task_files_dir=get("TASK_FILES_DIR", _absolute, d.task_files_dir),
            inline_limit=get("PAYLOAD_INLINE_LIMIT_BYTES", _at_least_1k, d.inline_limit),
            url_seconds=get("PRESIGNED_URL_SECONDS", _url_seconds, d.url_seconds),
            auto_cleanup=get("S3_AUTO_CLEANUP", _bool, d.auto_cleanup),
        )


def _http_url(raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme not in ("http", "https") or not rest.strip("/"):
        raise ValueError("must be an http:// or https:// URL")
    return raw.rstrip("/")


def _bucket(raw: str) -> str:
    if not _BUCKET.fullmatch(raw) or ".." in raw:
        raise ValueError("must be an S3 bucket name: 3-63 lower-case letters, digits, '.' or '-'")
    return raw


def _region(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{2,40}", raw):
        raise ValueError("must be a region name such as us-east-1")
    return raw


def _absolute(raw: str) -> str:
    path = os.path.abspath(os.path.expanduser(raw))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError("exists and is not a directory")
    return path


def _at_least_1k(raw: str) -> int:
    value = int(raw)
    if value < 1024:
        raise ValueError("must be a whole number of bytes, at least 1024")
    return value


def _url_seconds(raw: str) -> float:
    value = float(raw)
    if not 1 <= value <= 7 * 24 * 3600:
        raise ValueError("must be from 1 to 604800 seconds (S3's longest presigned URL)")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("must be true or false")
    return lowered in ("true", "1", "yes")
