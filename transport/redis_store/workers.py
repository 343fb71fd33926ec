"""The worker registry on Redis: a worker is a record key (expiring a grace period after its
``expires_at``) plus entries in the sorted sets (id -> ``expires_at``) of all workers, of each
skill and of each hot skill: the capability sets the router reads. Every index set is listed in
an index registry, so expired entries can be pruned from all of them."""

from __future__ import annotations

import time
from typing import cast

import msgspec

from actors.ports.store import WorkerRecord
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, encoder, ms

WORKER_KEY_GRACE_SECONDS = 60.0  # a record outlives its expires_at a little (clock skew between nodes)

_worker = msgspec.msgpack.Decoder(WorkerRecord)


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisWorkers(RedisPart):
    """``WorkerRegistry`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._put_worker, self._prune_workers = client.script("put_worker"), client.script("prune_workers")

    async def put_worker(self, record: WorkerRecord) -> None:
        """Register or refresh a worker and its capability/hot set entries (one script); it leaves
        the sets of skills it no longer lists. The key's TTL, on the wall clock, reaches a grace
        period past ``expires_at``; whether it counts as alive is ``list_workers(now)``'s call."""
        p, worker_id = self._prefix, record.worker_id
        skill_sets = [keys.workers_with_skill(p, skill) for skill in record.skills]
        indexes = dict.fromkeys([*skill_sets, *(keys.workers_hot(p, skill) for skill in record.hot_skills)])
        ttl_ms = ms(max(record.expires_at - time.time(), 0.0) + WORKER_KEY_GRACE_SECONDS)
        worker_keys = [keys.worker(p, worker_id), keys.workers(p), keys.worker_indexes(p, worker_id)]
        await self._put_worker(
            keys=[*worker_keys, keys.worker_index_registry(p), *indexes],
            args=[worker_id, encoder.encode(record), repr(record.expires_at), ttl_ms],
        )

    async def get_worker(self, worker_id: str) -> WorkerRecord | None:
        raw = await self._get(keys.worker(self._prefix, worker_id))
        return None if raw is None else _worker.decode(raw)

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        """Workers with ``expires_at > now``, soonest to expire first; first prunes entries expired
        at ``now`` from every index (cheap when there are none). Vanished records are skipped."""
        p = self._prefix
        await self._prune_workers(keys=[keys.workers(p), keys.worker_index_registry(p)], args=[repr(now)])
        ids = cast("list[bytes]", await self._redis.zrangebyscore(keys.workers(p), f"({now!r}", "+inf"))
        if not ids:
            return []
        raws = cast("list[bytes | None]", await self._redis.mget([keys.worker(p, i.decode()) for i in ids]))
        return [_worker.decode(raw) for raw in raws if raw is not None]

    async def capable_workers(self, skill: str, now: float) -> list[WorkerRecord]:
        """Workers in ``skill``'s capability set with ``expires_at > now`` (pruning expired index
        entries first, as ``list_workers``); vanished records, and records that no longer list the
        skill (a refresh raced this read), are skipped."""
        p = self._prefix
        await self._prune_workers(keys=[keys.workers(p), keys.worker_index_registry(p)], args=[repr(now)])
        capable = keys.workers_with_skill(p, skill)
        ids = cast("list[bytes]", await self._redis.zrangebyscore(capable, f"({now!r}", "+inf"))
        if not ids:
            return []
        raws = cast("list[bytes | None]", await self._redis.mget([keys.worker(p, i.decode()) for i in ids]))
        records = (_worker.decode(raw) for raw in raws if raw is not None)
        return [r for r in records if r.expires_at > now and skill in r.skills]
