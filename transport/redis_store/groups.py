"""Fan-out groups on Redis: a group is one hash holding the header (``v`` version, ``s`` msgpack
header), each branch under ``b:<key>`` and each retried task id under ``t:<task id>`` (naming its
branch's key). A done or cancelled group expires, branches included, as a finished job does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec
from redis.typing import EncodableT

from engine.errors import VersionConflict
from engine.group import BranchState, GroupState, decode_branch, decode_group, encode_branch, encode_group
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, ms


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisGroups(RedisPart):
    """``GroupStore`` on Redis."""

    def __init__(self, client: RedisClient, *, finished_job_ttl: float) -> None:
        RedisPart.__init__(self, client)
        self._group_ttl_ms = ms(finished_job_ttl)
        self._create, self._commit_group = client.script("create"), client.script("commit_group")
        self._load_branch = client.script("load_branch")

    async def create_group(self, state: GroupState) -> bool:
        """Store ``state`` as version 1 unless the id exists (atomic); the caller's object is untouched."""
        blob = encode_group(msgspec.structs.replace(state, version=1))
        return bool(await self._batch.script(self._create, [keys.group(self._prefix, state.id)], [blob]))

    async def load_group(self, group_id: str) -> GroupState | None:
        """The header (fields ``v`` and ``s``), not the branches."""
        fields = await self._batch.execute("HMGET", keys.group(self._prefix, group_id), "v", "s")
        version, blob = cast("list[bytes | None]", fields)
        if version is None or blob is None:
            return None
        state = decode_group(blob)
        state.version = int(version)
        return state

    async def load_branch(self, group_id: str, task_id: str) -> BranchState | None:
        """One script: the branch field of ``task_id``, or of the branch its retry field names."""
        raw = await self._batch.script(self._load_branch, [keys.group(self._prefix, group_id)], [task_id])
        return None if raw is None else decode_branch(cast("bytes", raw))

    async def load_branches(self, group_id: str) -> list[BranchState]:
        """Every ``b:`` field of the hash (one HGETALL)."""
        fields = cast("dict[bytes, bytes]", await self._redis.hgetall(keys.group(self._prefix, group_id)))
        return [decode_branch(raw) for field, raw in fields.items() if field.startswith(b"b:")]

    async def commit_group(
        self, state: GroupState, expected_version: int, branches: Sequence[BranchState] = ()
    ) -> None:
        """Compare-and-set of the header, as ``commit_job``, writing ``branches`` in the same
        script; a done or cancelled group (its hash: branches included) gets the finished-job TTL."""
        new_version = expected_version + 1
        blob = encode_group(msgspec.structs.replace(state, version=new_version))
        ttl_ms = self._group_ttl_ms if state.terminal else 0
        args: list[EncodableT] = [expected_version, blob, ttl_ms]
        for branch in branches:
            retried = "" if branch.task.id == branch.key else branch.task.id
            args += [branch.key, retried, encode_branch(branch)]
        group_key = keys.group(self._prefix, state.id)
        found = int(await self._batch.script(self._commit_group, [group_key], args))
        if found != expected_version:
            current = None if found < 0 else found
            raise VersionConflict(f"group {state.id}: expected version {expected_version}, found {current}")
        state.version = new_version
