"""Jobs on Redis: a job is a hash (``v`` version, ``s`` msgpack state) beside a small progress
key and a history list, both expiring with it; a client's quarantined jobs are a sorted set
(job id -> when it was quarantined); a claim is a key with a TTL.

With the archive on (``feed_cap`` > 0), every creation and every commit also appends the job to the
archive feed (``keys.archive_feed``) in the same script: ``transport.redis_store.archive_feed``.

Finished jobs are not kept forever: the commit that makes a job terminal sets its TTL (and its
progress's and history's) to ``finished_job_ttl``; a quarantined job's stay until someone looks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

import msgspec
from redis.typing import EncodableT

from actors.ports.archive import JobQuery
from actors.ports.store import Scheduled
from engine.errors import VersionConflict
from engine.history import HistoryEvent, decode_event, encode_event
from engine.job import QUARANTINED, JobState, decode_state, encode_state
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder, ms
from transport.redis_store.deadlines import deadline_args

_progress = msgspec.msgpack.Decoder(tuple[float, str | None])
_NO_EVENTS = encoder.encode([])


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisJobs(RedisPart):
    """``JobStore`` on Redis; a job keeps its newest ``history_limit`` history events. ``feed_cap``
    > 0 turns the archive feed on, capped at about that many entries (0: off, nothing written)."""

    def __init__(self, client: RedisClient, *, finished_job_ttl: float, history_limit: int, feed_cap: int = 0) -> None:
        RedisPart.__init__(self, client)
        self._finished_ttl_ms = ms(finished_job_ttl)
        self._history_limit = history_limit
        self._feed_cap = feed_cap
        self._create, self._commit = client.script("create"), client.script("commit_job")
        self._set_progress = client.script("set_progress")

    async def create_job(self, state: JobState) -> bool:
        """Store ``state`` as version 1 unless the id exists (atomic); the caller's object is untouched."""
        blob = encode_state(msgspec.structs.replace(state, version=1))
        job_key = keys.job(self._prefix, state.id)
        if self._feed_cap:
            feed_args: list[EncodableT] = [blob, self._feed_cap]
            return bool(await self._batch.script(self._create, [job_key, keys.archive_feed(self._prefix)], feed_args))
        return bool(await self._batch.script(self._create, [job_key], [blob]))

    async def load_job(self, job_id: str) -> JobState | None:
        fields = await self._batch.execute("HMGET", keys.job(self._prefix, job_id), "v", "s")
        version, blob = cast("list[bytes | None]", fields)
        if version is None or blob is None:
            return None
        state = decode_state(blob)
        state.version = int(version)  # ``v`` is authoritative: the blob may carry an older number
        return state

    async def commit_job(
        self,
        state: JobState,
        expected_version: int,
        *,
        schedule: Sequence[Scheduled] = (),
        unschedule: Sequence[str] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        """Compare-and-set in one script: write ``state`` as ``expected_version + 1`` and set
        ``state.version`` to it, appending ``history``, updating the client's quarantine index,
        removing the deadlines ``unschedule`` and adding ``schedule`` in the same script; or raise
        ``VersionConflict`` (nothing written, ``state`` untouched). A terminal state gets the job,
        its progress and its history the finished-job TTL, except a quarantined one, which waits
        for someone to look at it; any other clears it."""
        p, new_version = self._prefix, expected_version + 1
        blob = encode_state(msgspec.structs.replace(state, version=new_version))
        quarantined = state.status == QUARANTINED
        ttl_ms = self._finished_ttl_ms if state.terminal and not quarantined else 0
        score = repr(state.finished_at or 0.0) if quarantined else ""
        events = history[-self._history_limit :]  # the commit would trim older ones right away
        encoded = [encode_event(event) for event in events]
        feed = encoder.encode(encoded) if self._feed_cap and encoded else _NO_EVENTS
        args: list[EncodableT] = [
            *(expected_version, blob, ttl_ms, len(schedule), len(events), self._history_limit, score, state.id),
            *(self._feed_cap, feed),
        ]
        for item in schedule:
            args += deadline_args(item)
        args += encoded
        args += unschedule
        job_keys = [
            keys.job(p, state.id),
            keys.progress(p, state.id),
            keys.history(p, state.id),
            keys.quarantined(p, state.client_id),
            keys.deadlines(p),
            keys.deadline_items(p),
            keys.archive_feed(p),
        ]
        found = int(await self._batch.script(self._commit, job_keys, args))
        if found != expected_version:
            current = None if found < 0 else found
            raise VersionConflict(f"job {state.id}: expected version {expected_version}, found {current}")
        state.version = new_version

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        raw = await self._batch.execute("LRANGE", keys.history(self._prefix, job_id), 0, -1)
        return [decode_event(item) for item in cast("list[bytes]", raw)]

    async def list_jobs(self, query: JobQuery) -> list[JobState]:
        """A scan of every job of the namespace (no index: it costs O(jobs kept in Redis), and a
        job that expired is gone); the archive answers the same query from its indexes."""
        found: list[JobState] = []
        job_keys = [key async for key in self._redis.scan_iter(match=keys.job_family(self._prefix) + "*", count=1000)]
        for start in range(0, len(job_keys), 500):
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in job_keys[start : start + 500]:
                    pipe.hget(key, "s")
                blobs = await pipe.execute()
            found += [state for state in map(decode_state, filter(None, blobs)) if query.admits(state)]
        found.sort(key=lambda state: (state.created_at, state.id), reverse=True)
        return found[: query.limit]

    async def quarantined_jobs(self, client_id: str, limit: int) -> list[JobState]:
        ids = await self._batch.execute("ZRANGE", keys.quarantined(self._prefix, client_id), 0, limit - 1)
        found = await asyncio.gather(*(self.load_job(i.decode()) for i in cast("list[bytes]", ids)))
        return [state for state in found if state is not None and state.status == QUARANTINED]

    async def claim(self, name: str, ttl: float) -> bool:
        return bool(await self._batch.execute("SET", keys.claim(self._prefix, name), b"1", "NX", "PX", ms(ttl)))

    async def release_claim(self, name: str) -> None:
        await self._batch.execute("DEL", keys.claim(self._prefix, name))

    async def set_progress(self, job_id: str, progress: float, message: str | None) -> None:
        """Overwrite the job's progress; it expires with the job (or after the finished-job TTL
        if there is no such job)."""
        progress_keys = [keys.progress(self._prefix, job_id), keys.job(self._prefix, job_id)]
        await self._set_progress(keys=progress_keys, args=[encoder.encode((progress, message)), self._finished_ttl_ms])

    async def get_progress(self, job_id: str) -> tuple[float, str | None] | None:
        raw = await self._get(keys.progress(self._prefix, job_id))
        return None if raw is None else _progress.decode(raw)
