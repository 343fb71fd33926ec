"""The Redis store: the ``Store`` contract on Redis, shared by every node of a deployment.

Layout (every name comes from ``transport.keys``): a job is a hash (``v`` version, ``s`` msgpack
state) beside a small progress key; a fan-out group is a hash (header, branches); deadlines are a
sorted set plus a hash of envelopes; tasks wait in a sorted set per skill with their offers (and
the router's reservations) in hashes; a worker is a record key plus entries in the sorted sets
(id -> ``expires_at``) of all workers, of each skill and of each hot skill, the capability sets
the router reads. A taken task's lease is a key beside one sorted set of every lease's expiry,
which the sweeper reads.

Atomicity and crashes: every method is one atomic server step (a Lua script, or one read), so a
write is whole or absent, and what a returned call wrote survives the caller (Redis's own
persistence is the deployment's choice). A command whose connection breaks is re-sent, up to 3
times; that is harmless everywhere except where the first send had already taken effect:
``create_job`` then answers False for the job it created, ``commit_job`` raises
``VersionConflict`` for the state it wrote (the redelivered message is then found applied), and
``take_task`` leaves the first task leased to a worker that never got it, as does a
``take_task`` cancelled while its script runs; that lease expires unextended and the sweeper
hands the task back to its job.

Waiting takers hold no Redis connection: they park on an in-process event, woken by this store's
pushes and by one pub/sub subscription per store (pushes on other nodes), and re-check every
``poll_interval`` seconds in case a notification was lost. The same subscription carries the
cancellation notices (``announce_cancels``) to this store's ``cancel_notices`` subscribers.

Finished jobs are not kept forever: the commit that makes a job terminal sets its TTL (and its
progress's) to ``finished_job_ttl``; PostgreSQL keeps the history. A done or cancelled group
expires the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.typing import EncodableT

from actors.ports.notices import Fanout, Subscription
from actors.ports.store import RESERVATION_SCAN_LIMIT, Lease, Scheduled, WorkerRecord
from engine.errors import VersionConflict
from engine.group import BranchState, GroupState, decode_branch, decode_group, encode_branch, encode_group
from engine.history import HistoryEvent, decode_event, encode_event
from engine.job import QUARANTINED, JobState, decode_state, encode_state
from engine.messages import CancelNotice, TaskOffer
from transport import keys
from transport.app.settings import DEFAULT_TASK_PRIORITY_AGING_SECONDS
from transport.redis_batch import Batcher
from transport.redis_errors import translate_errors

log = logging.getLogger(__name__)

# A backstop: leases are released when their task is reported or swept; one that is not (a process
# died in between) still cleans itself up this long after its last extension.
LEASE_TTL_SECONDS = 7 * 24 * 3600
WORKER_KEY_GRACE_SECONDS = 60.0  # a record outlives its expires_at a little (clock skew between nodes)
_RECONNECT_DELAY = 1.0

# KEYS: job or group. ARGV: state. Creates version 1 unless it exists; returns 1 if created.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 's', ARGV[1])
return 1
"""

# KEYS: job, its progress and its history (both expire with it), the quarantine index of its client,
# deadlines, deadline items. ARGV: expected version, state, TTL in ms (0: none), n, m, history limit,
# quarantine score ('' when the job is not quarantined), job id, then n deadlines to add
# (``_deadline``), m history events to append, then the envelope ids of the deadlines to remove.
# Returns the version found (-1: none); the state was written, the history appended, the index
# updated and the deadlines removed then added (ZADD NX, as ``schedule``), iff it equals the
# expected one.
_COMMIT = """
local found = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if found ~= tonumber(ARGV[1]) then return found end
redis.call('HSET', KEYS[1], 'v', found + 1, 's', ARGV[2])
local events = 9 + 3 * tonumber(ARGV[4])
local removed = events + tonumber(ARGV[5])
if removed > events then
  for i = events, removed - 1, 1000 do  -- unpack is bounded by Lua's stack
    redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 999, removed - 1)))
  end
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
end
for i = 1, 3 do
  if ARGV[3] == '0' then redis.call('PERSIST', KEYS[i]) else redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
if ARGV[7] == '' then redis.call('ZREM', KEYS[4], ARGV[8]) else redis.call('ZADD', KEYS[4], ARGV[7], ARGV[8]) end
for i = removed, #ARGV do
  redis.call('ZREM', KEYS[5], ARGV[i])
  redis.call('HDEL', KEYS[6], ARGV[i])
end
for i = 9, events - 1, 3 do
  redis.call('ZADD', KEYS[5], 'NX', ARGV[i + 1], ARGV[i])
  redis.call('HSETNX', KEYS[6], ARGV[i], ARGV[i + 2])
end
return found
"""

# KEYS: group. ARGV: expected version, header, TTL in ms (0: not terminal), then per branch: key,
# current task id ('' when it is the key), branch. As _COMMIT, and the branches go in with the
# header; a retried task id is recorded so that it finds its branch. Returns the version found.
_COMMIT_GROUP = """
local found = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if found ~= tonumber(ARGV[1]) then return found end
redis.call('HSET', KEYS[1], 'v', found + 1, 's', ARGV[2])
for i = 4, #ARGV, 3 do
  redis.call('HSET', KEYS[1], 'b:' .. ARGV[i], ARGV[i + 2])
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], 't:' .. ARGV[i + 1], ARGV[i]) end
end
if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return found
"""

# KEYS: group. ARGV: task id. The branch that ran the task id (first or retried), or nil.
_LOAD_BRANCH = """
local branch = redis.call('HGET', KEYS[1], 'b:' .. ARGV[1])
if branch then return branch end
local key = redis.call('HGET', KEYS[1], 't:' .. ARGV[1])
if key then return redis.call('HGET', KEYS[1], 'b:' .. key) end
return false
"""

# KEYS: progress, job. ARGV: value, TTL in ms if there is no job. Progress expires with its job.
_SET_PROGRESS = """
redis.call('SET', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl)
elseif ttl == -2 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
"""

# KEYS: deadlines, deadline items. ARGV: envelope id, at, item (``_deadline``). Adds the deadline
# unless the id is scheduled (then a no-op, whatever ``at``), as _COMMIT adds a job's.
_SCHEDULE = """
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])
"""

# KEYS: deadlines, deadline items. ARGV: envelope ids. Removes them (unknown ids are ignored).
_UNSCHEDULE = """
redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
"""

# KEYS: lease, lease expiry. ARGV: task id.
_RELEASE_LEASE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
"""

# KEYS: deadlines, deadline items. ARGV: now, limit. The due envelopes, earliest first.
_DUE = """
local items = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then items[#items + 1] = item end
end
return items
"""

# KEYS: skill queue, offers, task jobs, sequence, lease, task groups, reservations, worker loads.
# ARGV: task id, job id, score (``push_task``), offer, channel, skill, group id ('' for a job's own task),
# reservation (msgpack [worker id, until], '' for none), reserved worker id and its last_seen
# ('' for no load count). Queues the task unless it is queued or leased; returns 1 if queued.
# A load entry is "last_seen:count"; a new last_seen starts the count over.
_PUSH_TASK = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local member = string.format('%020d', redis.call('INCR', KEYS[4])) .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[1], ARGV[3], member)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[6], ARGV[1], ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[7], ARGV[1], ARGV[8]) end
if ARGV[10] ~= '' then
  local current = redis.call('HGET', KEYS[8], ARGV[9])
  local count = 1
  if current then
    local sep = string.find(current, ':', 1, true)
    if string.sub(current, 1, sep - 1) == ARGV[10] then count = tonumber(string.sub(current, sep + 1)) + 1 end
  end
  redis.call('HSET', KEYS[8], ARGV[9], ARGV[10] .. ':' .. count)
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

# KEYS: offers, task jobs, task groups, lease expiry, reservations, then one queue per skill.
# ARGV: lease key family, worker id, taken at, lease backstop TTL in ms, expires at, now (for
# reservations), scan limit. In each queue, the first of its ``scan limit`` head entries not
# reserved for another worker until after ``now`` is that queue's candidate; pops the best
# candidate (lowest score, then lowest sequence: see ``push_task``), writes its lease (msgpack map,
# decoded as ``Lease``) and its expiry, and returns its offer, or nil.
_TAKE_TASK = """
local best, best_member, best_score, best_seq
local now, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
for i = 6, #KEYS do
  local entries = redis.call('ZRANGE', KEYS[i], 0, limit - 1, 'WITHSCORES')
  for j = 1, #entries, 2 do
    local raw = redis.call('HGET', KEYS[5], string.sub(entries[j], 22))
    local reservation = raw and cmsgpack.unpack(raw)
    if not reservation or reservation[1] == ARGV[2] or tonumber(reservation[2]) <= now then
      local score, seq = tonumber(entries[j + 1]), tonumber(string.sub(entries[j], 1, 20))
      if not best or score < best_score or (score == best_score and seq < best_seq) then
        best, best_member, best_score, best_seq = KEYS[i], entries[j], score, seq
      end
      break
    end
  end
end
if not best then return false end
redis.call('ZREM', best, best_member)
local task_id = string.sub(best_member, 22)
local offer = redis.call('HGET', KEYS[1], task_id)
local job_id = redis.call('HGET', KEYS[2], task_id)
local group_id = redis.call('HGET', KEYS[3], task_id)
redis.call('HDEL', KEYS[1], task_id)
redis.call('HDEL', KEYS[2], task_id)
redis.call('HDEL', KEYS[3], task_id)
redis.call('HDEL', KEYS[5], task_id)
local lease = {task_id = task_id, job_id = job_id, worker_id = ARGV[2], taken_at = tonumber(ARGV[3]),
               expires_at = tonumber(ARGV[5])}
if group_id then lease.group_id = group_id end
redis.call('SET', ARGV[1] .. task_id, cmsgpack.pack(lease), 'PX', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], task_id)
return offer
"""

# KEYS: lease expiry, then the lease of each task. ARGV: worker id, until, lease backstop TTL in ms,
# then the task ids (in KEYS order). Moves the worker's leases to ``until`` (never back) and
# restarts their backstop TTL; returns the ids of the worker's leases.
_EXTEND_LEASES = """
local held = {}
local new_expiry = tonumber(ARGV[2])
for i = 2, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local lease = cmsgpack.unpack(raw)
    if lease.worker_id == ARGV[1] then
      if new_expiry > (lease.expires_at or 0) then
        lease.expires_at = new_expiry
        redis.call('SET', KEYS[i], cmsgpack.pack(lease), 'PX', ARGV[3])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i + 2])
      end
      held[#held + 1] = ARGV[i + 2]
    end
  end
end
return held
"""

# KEYS: lease expiry. ARGV: lease key family, now, limit. The leases expired at ``now``, earliest
# first; an expiry entry whose lease is gone (its backstop TTL ran out) is dropped on the way.
_EXPIRED_LEASES = """
local leases = {}
for _, task_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
  local raw = redis.call('GET', ARGV[1] .. task_id)
  if raw then leases[#leases + 1] = raw else redis.call('ZREM', KEYS[1], task_id) end
end
return leases
"""

# KEYS: record, all workers, this worker's index list, index registry, then its capability and hot
# sets. ARGV: worker id, record, expires_at, TTL in ms. Leaves the sets the worker no longer has.
_PUT_WORKER = """
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local wanted = {}
for i = 5, #KEYS do wanted[KEYS[i]] = true end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if not wanted[key] then redis.call('ZREM', key, ARGV[1]) end
end
redis.call('DEL', KEYS[3])
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  redis.call('SADD', KEYS[3], KEYS[i])
  redis.call('SADD', KEYS[4], KEYS[i])
end
if #KEYS > 4 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
"""

# KEYS: all workers, index registry. ARGV: now. Drops entries expired at ``now`` from every set.
_PRUNE_WORKERS = """
if redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[2], key) end
end
return 1
"""

_encoder = msgspec.msgpack.Encoder()
_offer = msgspec.msgpack.Decoder(TaskOffer)
_scheduled = msgspec.msgpack.Decoder(Scheduled)
_lease = msgspec.msgpack.Decoder(Lease)
_worker = msgspec.msgpack.Decoder(WorkerRecord)
_progress = msgspec.msgpack.Decoder(tuple[float, str | None])
_notices = msgspec.msgpack.Decoder(list[CancelNotice])


def _deadline(item: Scheduled) -> list[EncodableT]:
    """A deadline as _SCHEDULE and _COMMIT take it: envelope id, time, the item itself."""
    return [item.envelope.id, repr(item.at), _encoder.encode(item)]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@translate_errors  # redis-py's "server away" errors leave every public method as StoreUnavailable
class RedisStore:
    """``Store`` on Redis. Use ``async with RedisStore(url)`` or ``await RedisStore.open(url)``.

    ``prefix`` namespaces every key (one deployment, or one test); ``poll_interval`` bounds how long
    a waiting taker can miss a lost pub/sub notification; a job keeps its newest ``history_limit``
    history events.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "avtomat",
        finished_job_ttl: float = 7 * 24 * 3600,
        poll_interval: float = 1.0,
        history_limit: int = 1000,
        priority_aging: float = DEFAULT_TASK_PRIORITY_AGING_SECONDS,
    ) -> None:
        # One pool per store, no I/O yet. A command whose connection broke is re-sent (see the module doc).
        retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=3)
        self._redis = Redis.from_url(url, decode_responses=False, retry=retry)
        self._prefix = prefix
        self._finished_ttl_ms = _ms(finished_job_ttl)
        self._history_limit = history_limit
        self._poll_interval = poll_interval
        self._priority_aging = priority_aging  # seconds of waiting one unit of priority is worth
        script = self._redis.register_script  # registered once: hashed here, loaded on first use
        self._create, self._commit = script(_CREATE), script(_COMMIT)
        self._commit_group, self._load_branch = script(_COMMIT_GROUP), script(_LOAD_BRANCH)
        self._set_progress, self._due = script(_SET_PROGRESS), script(_DUE)
        self._schedule, self._unschedule = script(_SCHEDULE), script(_UNSCHEDULE)
        self._release_lease = script(_RELEASE_LEASE)
        self._push_task, self._take_task = script(_PUSH_TASK), script(_TAKE_TASK)
        self._extend_leases, self._expired_leases = script(_EXTEND_LEASES), script(_EXPIRED_LEASES)
        self._put_worker, self._prune_workers = script(_PUT_WORKER), script(_PRUNE_WORKERS)
        self._batch = Batcher(self._redis)  # the hot path's commands, pipelined per loop turn
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._parked = 0
        self._cancels: Fanout[CancelNotice] = Fanout()
        self._cancel_channel = keys.cancel_channel(prefix).encode()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, **options: Any) -> RedisStore:
        store = cls(url, **options)
        await store.connect()
        return store

    async def connect(self) -> None:
        """Reach the server, subscribe to task and cancellation notifications and start the
        listener; idempotent.

        When it returns, the subscription is confirmed: a push made afterwards on any node wakes
        this store's takers, and a cancellation announced afterwards reaches its subscribers. On
        failure (``StoreUnavailable`` when Redis is away) the store is closed.
        """
        if self._listener is not None:
            return
        if self._closed:
            raise RuntimeError("RedisStore is closed")
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        try:
            await self._redis.ping()
            channels = [keys.task_channel(self._prefix), keys.cancel_channel(self._prefix)]
            await pubsub.subscribe(*channels)
            for _ in channels:
                confirmation = await pubsub.get_message(timeout=5.0)
                if confirmation is None or confirmation["type"] != "subscribe":
                    raise RedisConnectionError(f"no confirmation of the subscription, got {confirmation!r}")
        except BaseException:
            await self.close()
            raise
        self._listener = asyncio.create_task(self._listen(pubsub), name=f"redis-store-listener:{self._prefix}")

    async def close(self) -> None:
        """Stop the listener, release waiting takers (they return None), end the cancellation
        subscriptions, close the pool. Idempotent.

        Re-raises, after closing everything, an error that killed the listener (a bug)."""
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        self._cancels.close()
        listener, self._listener = self._listener, None
        try:
            if listener is not None:
                listener.cancel()
                await asyncio.wait({listener})
        finally:
            await self._batch.drain()
            if self._pubsub is not None:
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await self._redis.aclose()
        if listener is not None and not listener.cancelled() and listener.exception() is not None:
            raise RuntimeError("the task-notification listener failed") from listener.exception()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _listen(self, pubsub: PubSub) -> None:
        """Wake this store's takers for every push announced on the task channel, and hand the
        cancellation channel's notices to the subscribers, until cancelled.

        Connection errors are logged and retried; takers then rely on their periodic re-check."""
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                log.warning("task notifications interrupted (%s); reconnecting in %.1f s", exc, _RECONNECT_DELAY)
                self._wake_all()
                await asyncio.sleep(_RECONNECT_DELAY)
                continue
            if message is None:
                continue
            if message["type"] == "message" and bytes(message["channel"]) == self._cancel_channel:
                self._received_cancels(bytes(message["data"]))
            elif message["type"] == "message":
                self._wake(bytes(message["data"]).decode())
            elif message["type"] == "subscribe":  # re-subscribed after a reconnect: the gap went unannounced
                self._wake_all()

    def _received_cancels(self, raw: bytes) -> None:
        try:
            notices = _notices.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("undecodable cancellation notice on %s dropped: %s", self._cancel_channel.decode(), exc)
            return
        self._cancels.publish(notices)

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(self, state: JobState) -> bool:
        """Store ``state`` as version 1 unless the id exists (atomic); the caller's object is untouched."""
        blob = encode_state(msgspec.structs.replace(state, version=1))
        return bool(await self._batch.script(self._create, [keys.job(self._prefix, state.id)], [blob]))

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
        args: list[EncodableT] = [
            expected_version, blob, ttl_ms, len(schedule), len(events), self._history_limit, score, state.id
        ]
        for item in schedule:
            args += _deadline(item)
        args += [encode_event(event) for event in events]
        args += unschedule
        job_keys = [
            keys.job(p, state.id),
            keys.progress(p, state.id),
            keys.history(p, state.id),
            keys.quarantined(p, state.client_id),
            keys.deadlines(p),
            keys.deadline_items(p),
        ]
        found = int(await self._batch.script(self._commit, job_keys, args))
        if found != expected_version:
            current = None if found < 0 else found
            raise VersionConflict(f"job {state.id}: expected version {expected_version}, found {current}")
        state.version = new_version

    async def load_history(self, job_id: str) -> list[HistoryEvent]:
        raw = await self._batch.execute("LRANGE", keys.history(self._prefix, job_id), 0, -1)
        return [decode_event(item) for item in cast("list[bytes]", raw)]

    async def quarantined_jobs(self, client_id: str, limit: int) -> list[JobState]:
        ids = await self._batch.execute("ZRANGE", keys.quarantined(self._prefix, client_id), 0, limit - 1)
        found = await asyncio.gather(*(self.load_job(i.decode()) for i in cast("list[bytes]", ids)))
        return [state for state in found if state is not None and state.status == QUARANTINED]

    async def claim(self, name: str, ttl: float) -> bool:
        return bool(await self._batch.execute("SET", keys.claim(self._prefix, name), b"1", "NX", "PX", _ms(ttl)))

    async def release_claim(self, name: str) -> None:
        await self._batch.execute("DEL", keys.claim(self._prefix, name))

    # -- fan-out groups --------------------------------------------------------------------

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
        ttl_ms = self._finished_ttl_ms if state.terminal else 0
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

    async def set_progress(self, job_id: str, progress: float, message: str | None) -> None:
        """Overwrite the job's progress; it expires with the job (or after the finished-job TTL
        if there is no such job)."""
        progress_keys = [keys.progress(self._prefix, job_id), keys.job(self._prefix, job_id)]
        await self._set_progress(keys=progress_keys, args=[_encoder.encode((progress, message)), self._finished_ttl_ms])

    async def get_progress(self, job_id: str) -> tuple[float, str | None] | None:
        raw = await self._get(keys.progress(self._prefix, job_id))
        return None if raw is None else _progress.decode(raw)

    # -- deadlines -------------------------------------------------------------------------

    async def schedule(self, item: Scheduled) -> None:
        """Add a deadline unless its envelope id is scheduled (then a no-op, whatever ``at``); one script."""
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        await self._batch.script(self._schedule, deadline_keys, _deadline(item))

    async def due(self, now: float, limit: int) -> list[Scheduled]:
        """Deadlines with ``at <= now``, earliest first (equal times by envelope id); not removed."""
        if limit <= 0:
            return []
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        raws: list[bytes] = await self._due(keys=deadline_keys, args=[repr(now), limit])
        return [_scheduled.decode(raw) for raw in raws]

    async def unschedule(self, envelope_ids: Sequence[str]) -> None:
        """Remove deadlines (unknown ids are ignored); one script. The id may be scheduled again afterwards."""
        if not envelope_ids:
            return
        deadline_keys = [keys.deadlines(self._prefix), keys.deadline_items(self._prefix)]
        await self._batch.script(self._unschedule, deadline_keys, list(envelope_ids))

    async def next_due(self) -> float | None:
        head = cast(
            "list[tuple[bytes, float]]", await self._redis.zrange(keys.deadlines(self._prefix), 0, 0, withscores=True)
        )
        return head[0][1] if head else None

    # -- tasks -----------------------------------------------------------------------------

    async def push_task(
        self,
        offer: TaskOffer,
        *,
        reserved_for: str | None = None,
        reserved_until: float = 0.0,
        counted_since: float | None = None,
        now: float | None = None,
    ) -> None:
        """Queue ``offer`` for its skill, reserved for ``reserved_for`` until ``reserved_until`` if
        given (counted towards its load since ``counted_since``), and announce it; a no-op if the
        task id is queued or leased (one script). Its score in the skill's sorted set is ``now``
        (default: this process's clock) minus ``priority * priority_aging``; ties are taken in push
        order across all nodes. Nodes' clocks should agree to well within ``priority_aging``."""
        p = self._prefix
        push_keys = [keys.task_queue(p, offer.type), keys.task_offers(p), keys.task_jobs(p), keys.task_seq(p)]
        push_keys += [keys.lease(p, offer.task_id), keys.task_groups(p), keys.task_reservations(p)]
        score = (time.time() if now is None else now) - offer.priority * self._priority_aging
        args: list[EncodableT] = [offer.task_id, offer.job_id, repr(score), _encoder.encode(offer)]
        args += [keys.task_channel(p), offer.type, offer.group_id or ""]
        if reserved_for is None:
            args += [b"", "", ""]
        else:
            since = "" if counted_since is None else repr(counted_since)
            args += [_encoder.encode((reserved_for, reserved_until)), reserved_for, since]
        if await self._batch.script(self._push_task, [*push_keys, keys.worker_load(p)], args):
            self._wake(offer.type)  # our own takers need not wait for the round trip through pub/sub

    async def take_task(
        self, worker_id: str, skills: Sequence[str], timeout: float, now: float, *, lease_seconds: float
    ) -> TaskOffer | None:
        """Take the best queued task of ``skills``, waiting up to ``timeout`` s (0: no wait, but a
        queued task is still handed out). Pop and lease are one script, so a task goes to exactly
        one taker; the lease expires at ``now + lease_seconds`` unless extended. Waiting holds no
        Redis connection; see ``waiting_takers``. A task reserved for another worker is skipped
        (up to ``RESERVATION_SCAN_LIMIT`` per skill); a parked taker sees a reservation lapse at
        its next periodic re-check (``poll_interval``), its clock being ``now`` plus the time
        it has waited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(timeout, 0.0)
        event = asyncio.Event()
        with self._registered(skills, event):
            while True:
                event.clear()  # before the attempt: a push during it sets the event again
                current = now + (loop.time() - started)
                offer = await self._take_once(worker_id, skills, now, now + lease_seconds, current)
                remaining = deadline - loop.time()
                if offer is not None or remaining <= 0:
                    return offer
                self._parked += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(remaining, self._poll_interval)):
                            await event.wait()
                finally:
                    self._parked -= 1
                if self._closed:
                    return None

    @property
    def prefix(self) -> str:
        """The namespace of every key this store writes."""
        return self._prefix

    @property
    def waiting_takers(self) -> int:
        """``take_task`` calls of this store parked, waiting for a push (a gauge for metrics)."""
        return self._parked

    async def _take_once(
        self, worker_id: str, skills: Sequence[str], now: float, expires_at: float, current: float
    ) -> TaskOffer | None:
        p = self._prefix
        take_keys = [keys.task_offers(p), keys.task_jobs(p), keys.task_groups(p), keys.lease_expiry(p)]
        take_keys += [keys.task_reservations(p), *(keys.task_queue(p, skill) for skill in skills)]
        backstop_ms = LEASE_TTL_SECONDS * 1000
        args: list[EncodableT] = [keys.lease_family(p), worker_id, repr(now), backstop_ms, repr(expires_at)]
        args += [repr(current), RESERVATION_SCAN_LIMIT]
        raw: bytes | None = await self._batch.script(self._take_task, take_keys, args)
        return None if raw is None else _offer.decode(raw)

    @contextlib.contextmanager
    def _registered(self, skills: Sequence[str], event: asyncio.Event) -> Iterator[None]:
        for skill in skills:
            self._waiters.setdefault(skill, set()).add(event)
        try:
            yield
        finally:
            for skill in skills:
                events = self._waiters.get(skill)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._waiters[skill]

    def _wake(self, skill: str) -> None:
        for event in self._waiters.get(skill, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def get_lease(self, task_id: str) -> Lease | None:
        raw = await self._get(keys.lease(self._prefix, task_id))
        return None if raw is None else _lease.decode(raw)

    async def extend_leases(self, worker_id: str, task_ids: Sequence[str], until: float) -> list[str]:
        """One script: the worker's leases among ``task_ids`` expire at ``until`` (never earlier than
        before) and their backstop TTL starts again."""
        if not task_ids:
            return []
        p = self._prefix
        lease_keys = [keys.lease_expiry(p), *(keys.lease(p, task_id) for task_id in task_ids)]
        args: list[EncodableT] = [worker_id, repr(until), LEASE_TTL_SECONDS * 1000, *task_ids]
        held = cast("list[bytes]", await self._extend_leases(keys=lease_keys, args=args))
        return [task_id.decode() for task_id in held]

    async def expired_leases(self, now: float, limit: int) -> list[Lease]:
        """Leases with ``expires_at <= now``, earliest first (equal times by task id); not removed."""
        if limit <= 0:
            return []
        p = self._prefix
        args: list[EncodableT] = [keys.lease_family(p), repr(now), limit]
        raws = cast("list[bytes]", await self._expired_leases(keys=[keys.lease_expiry(p)], args=args))
        return [_lease.decode(raw) for raw in raws]

    async def release_lease(self, task_id: str) -> None:
        """Delete the lease and its expiry entry (one script); unknown ids are ignored."""
        lease_keys = [keys.lease(self._prefix, task_id), keys.lease_expiry(self._prefix)]
        await self._batch.script(self._release_lease, lease_keys, [task_id])

    # -- workers ---------------------------------------------------------------------------

    async def put_worker(self, record: WorkerRecord) -> None:
        """Register or refresh a worker and its capability/hot set entries (one script); it leaves
        the sets of skills it no longer lists. The key's TTL, on the wall clock, reaches a grace
        period past ``expires_at``; whether it counts as alive is ``list_workers(now)``'s call."""
        p, worker_id = self._prefix, record.worker_id
        skill_sets = [keys.workers_with_skill(p, skill) for skill in record.skills]
        indexes = dict.fromkeys([*skill_sets, *(keys.workers_hot(p, skill) for skill in record.hot_skills)])
        ttl_ms = _ms(max(record.expires_at - time.time(), 0.0) + WORKER_KEY_GRACE_SECONDS)
        worker_keys = [keys.worker(p, worker_id), keys.workers(p), keys.worker_indexes(p, worker_id)]
        await self._put_worker(
            keys=[*worker_keys, keys.worker_index_registry(p), *indexes],
            args=[worker_id, _encoder.encode(record), repr(record.expires_at), ttl_ms],
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

    async def reservations(self, workers: Sequence[WorkerRecord]) -> dict[str, int]:
        """Counts recorded against each worker's current heartbeat; an older one counts 0."""
        if not workers:
            return {}
        ids = [w.worker_id for w in workers]
        raws = cast("list[bytes | None]", await self._batch.execute("HMGET", keys.worker_load(self._prefix), *ids))
        counts: dict[str, int] = {}
        for worker, raw in zip(workers, raws, strict=True):
            since, _, count = (raw or b"").decode().partition(":")
            counts[worker.worker_id] = int(count) if raw and since == repr(worker.last_seen) else 0
        return counts

    # -- cancellation notices --------------------------------------------------------------

    async def announce_cancels(self, notices: Sequence[CancelNotice]) -> None:
        """One PUBLISH for all of ``notices``; this store's own subscribers hear it back through
        the channel, as every other process's do."""
        if not notices:
            return
        try:
            await self._batch.execute("PUBLISH", self._cancel_channel, _encoder.encode(list(notices)))
        except (RedisError, OSError) as exc:
            log.warning("%d cancellation notices lost (%s); heartbeats will tell the workers", len(notices), exc)

    def cancel_notices(self) -> Subscription[CancelNotice]:
        return self._cancels.subscribe()

    async def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._batch.execute("GET", key))
