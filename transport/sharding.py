"""Stable mapping of a key (job id) to one of N mailbox shards."""

from __future__ import annotations

import zlib


def shard_of(key: str, shards: int) -> int:
    """CRC32 is stable across processes and Python versions (unlike ``hash``)."""
    return zlib.crc32(key.encode()) % shards
