"""Every Redis key and channel name the Redis store uses, in one place (STYLE.md, rule 10).

Each function takes the store's ``prefix``; every name starts with ``{prefix}:``, so one prefix
is one isolated namespace (a deployment, or a test). Families never extend one another
(``worker:`` vs ``workers``, ``tasks:`` vs ``task-seq``), so an id containing ``:`` cannot make
two families collide.

Lua scripts that must derive a key from a value they read (the lease of the task they picked)
get the family's prefix from here (``lease_family``), never a literal.
"""

from __future__ import annotations

# -- jobs -------------------------------------------------------------------------------------


def job(prefix: str, job_id: str) -> str:
    """Hash: ``v`` = version (int, read by Lua), ``s`` = msgpack ``JobState``."""
    return f"{prefix}:job:{job_id}"


def job_family(prefix: str) -> str:
    """The common start of every job key; the take script appends the job id of the task it took."""
    return f"{prefix}:job:"


def progress(prefix: str, job_id: str) -> str:
    """String: msgpack ``(progress, message)``; expires with its job."""
    return f"{prefix}:progress:{job_id}"


def history(prefix: str, job_id: str) -> str:
    """List: msgpack ``HistoryEvent``s of a job, oldest first, trimmed to the newest few; expires
    with its job."""
    return f"{prefix}:history:{job_id}"


def quarantined(prefix: str, client_id: str) -> str:
    """Sorted set: job id -> ``finished_at`` of the client's quarantined jobs (they do not expire)."""
    return f"{prefix}:quarantined:{client_id}"


def claim(prefix: str, name: str) -> str:
    """String with a TTL: ``name`` is taken (a decision on an approval is made once)."""
    return f"{prefix}:claim:{name}"


def pinned_setting(prefix: str, variable: str) -> str:
    """String, no TTL: the value of ``variable`` the namespace was first started with
    (``JOB_SHARDS``: every node and gateway of a namespace must agree on it)."""
    return f"{prefix}:pinned:{variable}"


def archive_feed(prefix: str) -> str:
    """Stream: one entry per job creation and commit while the archive is configured (``s`` =
    msgpack ``JobState``, ``e`` = msgpack list of the ``HistoryEvent``s committed with it), read by
    the ``ARCHIVERS`` consumer group; an entry is deleted once archived."""
    return f"{prefix}:archive-feed"


ARCHIVERS = "archivers"  # the consumer group of the archive feed (not a key)


# -- fan-out groups ---------------------------------------------------------------------------


def group(prefix: str, group_id: str) -> str:
    """Hash: ``v`` = version (int, read by Lua), ``s`` = msgpack ``GroupState`` (the header),
    ``b:{branch key}`` = msgpack ``BranchState`` per branch, ``t:{task id}`` = the branch key of
    each retried task id (ADR 0007). The whole hash expires when the group ends."""
    return f"{prefix}:group:{group_id}"


# -- deadlines --------------------------------------------------------------------------------


def deadlines(prefix: str) -> str:
    """Sorted set: envelope id -> ``at`` (epoch seconds)."""
    return f"{prefix}:deadlines"


def deadline_items(prefix: str) -> str:
    """Hash: envelope id -> msgpack ``Scheduled``."""
    return f"{prefix}:deadline-items"


# -- tasks ------------------------------------------------------------------------------------


def task_queue(prefix: str, skill: str) -> str:
    """Sorted set per skill: ``{seq:020d}:{task_id}`` -> ``-priority``."""
    return f"{prefix}:tasks:{skill}"


def task_offers(prefix: str) -> str:
    """Hash: task id -> msgpack ``TaskOffer`` of every queued task."""
    return f"{prefix}:task-offers"


def task_jobs(prefix: str) -> str:
    """Hash: task id -> job id of every queued task (so Lua can write the lease without decoding)."""
    return f"{prefix}:task-jobs"


def task_groups(prefix: str) -> str:
    """Hash: task id -> group id of every queued fan-out branch task (its lease names the group)."""
    return f"{prefix}:task-groups"


def task_reservations(prefix: str) -> str:
    """Hash: task id -> msgpack ``[worker id, reserved until]`` of every queued task the router
    reserved for a worker; removed when the task is taken (a lapsed entry just stops mattering)."""
    return f"{prefix}:task-reservations"


def task_seq(prefix: str) -> str:
    """Counter: the push sequence that makes equal priorities FIFO."""
    return f"{prefix}:task-seq"


def lease_family(prefix: str) -> str:
    """The common start of every lease key; the take script appends the task id."""
    return f"{prefix}:lease:"


def lease(prefix: str, task_id: str) -> str:
    """String: msgpack ``Lease`` of a taken task; a long backstop TTL from its last extension."""
    return lease_family(prefix) + task_id


def lease_expiry(prefix: str) -> str:
    """Sorted set: task id -> ``expires_at`` of every lease, what the sweeper reads."""
    return f"{prefix}:lease-expiry"


def task_channel(prefix: str) -> str:
    """Pub/sub channel (not a key): the skill of every task pushed, to wake waiting takers."""
    return f"{prefix}:task-pushed"


def cancel_channel(prefix: str) -> str:
    """Pub/sub channel (not a key): msgpack lists of ``CancelNotice``, for the gateways holding the
    workers' WebSockets."""
    return f"{prefix}:task-cancelled"


# -- workers ----------------------------------------------------------------------------------


def worker(prefix: str, worker_id: str) -> str:
    """String: msgpack ``WorkerRecord``; expires a grace period after ``expires_at``."""
    return f"{prefix}:worker:{worker_id}"


def workers(prefix: str) -> str:
    """Sorted set: worker id -> ``expires_at`` of every registered worker."""
    return f"{prefix}:workers"


def workers_with_skill(prefix: str, skill: str) -> str:
    """Sorted set (capability set): worker id -> ``expires_at`` of the workers having ``skill``."""
    return f"{prefix}:workers:skill:{skill}"


def workers_hot(prefix: str, skill: str) -> str:
    """Sorted set (hot set): worker id -> ``expires_at`` of the workers holding ``skill`` warm."""
    return f"{prefix}:workers:hot:{skill}"


def worker_indexes(prefix: str, worker_id: str) -> str:
    """Set: the capability and hot sets one worker is in, to leave those it no longer has."""
    return f"{prefix}:worker-indexes:{worker_id}"


def worker_index_registry(prefix: str) -> str:
    """Set: every capability and hot set in use, so pruning expired entries can visit them all."""
    return f"{prefix}:worker-index-keys"


# -- schedules --------------------------------------------------------------------------------


def schedule_fires(prefix: str) -> str:
    """Hash: schedule name -> ``"<at>:<job id>"`` of its last fire (``at`` in whole epoch seconds)."""
    return f"{prefix}:schedule-fires"


# -- tenancy: rate limits, quotas, worker tokens ------------------------------------------------


def rate_bucket(prefix: str, key: str) -> str:
    """String with a TTL: the GCRA theoretical arrival time (epoch seconds) of one rate-limit
    bucket; ``key`` is ``<operation class>:<client or worker id>`` (``transport/gateway/limits.py``)."""
    return f"{prefix}:rate:{key}"


def quota_count(prefix: str, client_id: str, quota: str, window: str) -> str:
    """Counter with a TTL (the end of its window): jobs the client created in ``window``
    (a UTC day or month) against ``quota``."""
    return f"{prefix}:quota:{quota}:{window}:{client_id}"


def running_jobs(prefix: str, client_id: str) -> str:
    """Set: the ids of the client's jobs counted against ``max_running_jobs``; pruned lazily."""
    return f"{prefix}:running:{client_id}"


def worker_tokens(prefix: str) -> str:
    """Hash: ``v`` = version, ``doc`` = the worker token table (msgpack), replaced together."""
    return f"{prefix}:worker-tokens"


# -- Pure Holon mode ---------------------------------------------------------------------------


def holon_tasks(prefix: str) -> str:
    """Hash: task id -> ``accepted_at`` (epoch seconds, as text) of every parent task running here."""
    return f"{prefix}:holon-tasks"


# -- webhooks ---------------------------------------------------------------------------------


def webhook_items(prefix: str) -> str:
    """Hash: delivery id -> msgpack ``WebhookDelivery`` of every pending or dead delivery."""
    return f"{prefix}:webhook-items"


def webhook_due(prefix: str) -> str:
    """Sorted set: delivery id -> when it is due (or its claim's lease ends), of every pending delivery."""
    return f"{prefix}:webhook-due"


def webhook_dead(prefix: str, client_id: str) -> str:
    """Sorted set per client: delivery id -> ``dead_at`` of the client's dead deliveries."""
    return f"{prefix}:webhook-dead:{client_id}"


# -- leader locks -----------------------------------------------------------------------------


def lock(prefix: str, name: str) -> str:
    """String ``"<token>:<holder>"`` with a TTL: who leads ``name`` (e.g. the timeouts actor)."""
    return f"{prefix}:lock:{name}"


def lock_fence(prefix: str, name: str) -> str:
    """Counter: the last fencing token handed out for ``name``; only grows."""
    return f"{prefix}:lock-fence:{name}"


def members(prefix: str) -> str:
    """Sorted set: node id -> expiry (epoch seconds); the live nodes that share the mailboxes."""
    return f"{prefix}:members"


def worker_load(prefix: str) -> str:
    """Hash: worker id -> ``"<last_seen>:<count>"``, tasks reserved for it since that heartbeat."""
    return f"{prefix}:worker-load"


# -- STS tokens (ADR 0024) --------------------------------------------------------------------


def sts_issued(prefix: str, worker_id: str) -> str:
    """Sorted set: ``{serial}|{expires_at}`` -> issued at (epoch seconds), a worker's newest access
    tokens (never the tokens: they are recomputed from the serial); expires with the refresh lifetime."""
    return f"{prefix}:sts-issued:{worker_id}"


def sts_refresh(prefix: str, digest: str) -> str:
    """Hash with a TTL: ``w`` = worker id, ``r`` = when it was replaced (absent: live), of the refresh
    token whose SHA-256 is ``digest`` (hex)."""
    return f"{prefix}:sts-refresh:{digest}"
