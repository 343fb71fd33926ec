"""The Redis store: the ``Store`` contract on Redis, shared by every node of a deployment.

One module per concern, each a part of ``RedisStore`` on the one shared client (``client``):
``jobs``, ``groups``, ``deadlines``, ``tasks`` (queue and leases), ``workers``, ``cancels``,
``schedules``, ``holon`` (Pure Holon mode's parent tasks), ``webhooks`` (pending deliveries with
their claims, and the dead lists); the Lua scripts are in ``lua/``, each
file saying what it takes and returns; every key name comes from ``transport.keys``. ``store``
composes the parts and runs the pub/sub listener.

Atomicity and crashes: every method is one atomic server step (a Lua script, or one read), so a
write is whole or absent, and what a returned call wrote survives the caller (Redis's own
persistence is the deployment's choice). A command whose connection breaks is re-sent, up to 3
times; that is harmless everywhere except where the first send had already taken effect:
``create_job`` then answers False for the job it created (``record_fire`` for the fire it
recorded), ``commit_job`` raises ``VersionConflict`` for the state it wrote (the redelivered
message is then found applied), and ``take_task`` leaves the first task leased to a worker that
never got it, as does a ``take_task`` cancelled while its script runs; that lease expires
unextended and the sweeper hands the task back to its job.

One pub/sub subscription per store wakes its waiting takers for pushes made on other nodes and
carries the cancellation notices (``announce_cancels``) to its ``cancel_notices`` subscribers.

Finished jobs are not kept forever: the commit that makes a job terminal sets its TTL, and its
progress's and history's, to ``finished_job_ttl`` (``jobs``). A done or cancelled group expires
the same way.
"""

from transport.redis_store.store import RedisStore
from transport.redis_store.tasks import LEASE_TTL_SECONDS
from transport.redis_store.workers import WORKER_KEY_GRACE_SECONDS

__all__ = ["LEASE_TTL_SECONDS", "WORKER_KEY_GRACE_SECONDS", "RedisStore"]
