"""Every default value, in one place: changing a default means changing one line here.

``Settings`` (``transport/app/settings.py``) reads each from its environment variable, named in
the comment; a component parameter that keeps a default (for tests and embedding) takes it from
here, never a literal of its own. Pure constants: no environment is read.
"""

from __future__ import annotations

API_HOST = "127.0.0.1"  # API_HOST: where the gateway listens
API_PORT = 8080  # API_PORT
METRICS_PORT = 0  # METRICS_PORT: a listener of its own for /_public/metrics (a node without the gateway); 0: none
ENVIRONMENT = "development"  # ENVIRONMENT (or ENV): "production" requires every token
INSTANCE_ID = "avtomat"  # INSTANCE_ID when the host has no name (else the host name)
JOB_MAX_RETRIES = 3  # JOB_MAX_RETRIES: handler retries before quarantine
TASK_MAX_ATTEMPTS = 3  # TASK_MAX_ATTEMPTS: dispatches of one task before giving up
RETRY_BACKOFF_BASE_SECONDS = 0.5  # RETRY_BACKOFF_BASE_SECONDS: first back-off step (doubles)
RETRY_BACKOFF_CAP_SECONDS = 30.0  # not a setting: the longest back-off step
MAX_TRANSITIONS_PER_JOB = 100  # MAX_TRANSITIONS_PER_JOB: a job's step cap unless it sets one
MAX_HOLARCHY_DEPTH = 10  # MAX_HOLARCHY_DEPTH: how deep run_blueprint children may nest
JOB_HISTORY_LIMIT = 1000  # JOB_HISTORY_LIMIT: newest history events kept per job
WORKER_TIMEOUT_SECONDS = 300.0  # WORKER_TIMEOUT_SECONDS: default result_timeout of a task
WORKER_POLL_TIMEOUT_SECONDS = 30.0  # WORKER_POLL_TIMEOUT_SECONDS: longest task long-poll
TASK_LEASE_SECONDS = 60.0  # TASK_LEASE_SECONDS: a task without a heartbeat this long goes elsewhere
ROUTER_RESERVATION_SECONDS = 2.0  # ROUTER_RESERVATION_SECONDS: the chosen worker's head start
PICKUP_ANNOUNCE_DELAY_SECONDS = 0.1  # PICKUP_ANNOUNCE_DELAY_SECONDS: a pickup waits this long for its result
TASK_PRIORITY_AGING_SECONDS = 60.0  # TASK_PRIORITY_AGING_SECONDS: seconds of waiting one priority unit is worth
WORKER_HEALTH_CHECK_INTERVAL_SECONDS = 60.0  # WORKER_HEALTH_CHECK_INTERVAL_SECONDS: registrations live twice this
EXECUTOR_MAX_CONCURRENT_JOBS = 100  # EXECUTOR_MAX_CONCURRENT_JOBS: job messages in flight per node
MAX_REQUEST_BODY_BYTES = 1_048_576  # MAX_REQUEST_BODY_BYTES: larger bodies get 413
JOB_SHARDS = 4  # JOB_SHARDS: job mailbox shards, the most nodes that share the job actors
NAMESPACE = "avtomat"  # AVTOMAT_NAMESPACE: prefix of every queue, exchange and Redis key
RABBITMQ_QUEUE_TYPE = "classic"  # RABBITMQ_QUEUE_TYPE: classic or quorum
RABBITMQ_DELIVERY_LIMIT = 20  # RABBITMQ_DELIVERY_LIMIT: quorum redeliveries before dead-lettering
FINISHED_JOB_TTL_SECONDS = 7 * 24 * 3600.0  # FINISHED_JOB_TTL_SECONDS: how long Redis keeps an ended job
LOCK_LEASE_SECONDS = 3.0  # not a setting: a leader (timeouts, scheduler) or shard lock outlives its renewal this long
SCHEDULE_GRACE_SECONDS = 10.0  # not a setting: a fire this late is still made (> a failover); older ones were missed
TIMEZONE = "UTC"  # TZ: the time zone of schedules that name none
ENABLE_CLIENT_API = True  # ENABLE_CLIENT_API: false takes /api/v1 away (Pure Holon mode)
PARENT_MAX_CONCURRENT_TASKS = 10  # PARENT_MAX_CONCURRENT_TASKS: a holon's parent tasks running at once
PARENT_HEARTBEAT_INTERVAL = 15.0  # PARENT_HEARTBEAT_INTERVAL: seconds between a holon's heartbeats
PARENT_POLL_SECONDS = 30.0  # not a setting: a holon's longest long-poll of its parent
HOLON_REPAIR_GRACE_SECONDS = 60.0  # not a setting: how old a holon's task record is before a repair touches it
CLIENT_PLAN = "default"  # not a setting: the plan of a client that names none (clients.toml, CLIENT_TOKEN)
RATE_LIMITING_ENABLED = True  # RATE_LIMITING_ENABLED: false switches every rate limit off
RATE_LIMIT_LIMIT = 100  # RATE_LIMIT_LIMIT: calls per period of a client, and a worker's other calls
RATE_LIMIT_PERIOD = 60.0  # RATE_LIMIT_PERIOD: seconds the limits are counted over
RATE_LIMIT_POLL_LIMIT = 60  # RATE_LIMIT_POLL_LIMIT: a worker's task polls per period that return no task
RATE_LIMIT_HEARTBEAT_LIMIT = 120  # RATE_LIMIT_HEARTBEAT_LIMIT: a worker's heartbeats per period
WORKER_TOKENS_CACHE_SECONDS = 2.0  # not a setting: how long a gateway trusts its copy of the worker token table
LOG_LEVEL = "INFO"  # LOG_LEVEL
LOG_FORMAT = "text"  # LOG_FORMAT: text or json (json by default when ENVIRONMENT is production)
OTEL_SERVICE_NAME = "avtomat"  # OTEL_SERVICE_NAME: the service.name of the spans exported (ADR 0021)
WEBHOOK_MAX_AGE_SECONDS = 24 * 3600.0  # WEBHOOK_MAX_AGE_SECONDS: how long a failing delivery is retried
WEBHOOK_TIMEOUT_SECONDS = 10.0  # WEBHOOK_TIMEOUT_SECONDS: one delivery attempt's time limit
WEBHOOK_CONCURRENCY = 16  # WEBHOOK_CONCURRENCY: delivery attempts in flight per node
WEBHOOK_BACKOFF_BASE_SECONDS = 1.0  # not a setting: the first retry's delay (doubles, with jitter)
WEBHOOK_BACKOFF_CAP_SECONDS = 3600.0  # not a setting: the longest delay between two attempts
WEBHOOK_DEAD_LIMIT = 1000  # not a setting: dead deliveries kept per client (the oldest go first)
S3_DEFAULT_BUCKET = "avtomatika-payloads"  # S3_DEFAULT_BUCKET: the bucket job files live in (upstream's default)
S3_REGION = "us-east-1"  # S3_REGION
OBJECT_STORE_PATH = "avtomat-objects"  # OBJECT_STORE_PATH (under the system temp dir): the store without S3
TASK_FILES_DIR = "avtomat-task-files"  # TASK_FILES_DIR (under the system temp dir): task_files downloads
PAYLOAD_INLINE_LIMIT_BYTES = 256 * 1024  # PAYLOAD_INLINE_LIMIT_BYTES: larger initial_data or params go to objects
PRESIGNED_URL_SECONDS = 3600  # PRESIGNED_URL_SECONDS: how long a presigned or gateway-signed URL works
S3_AUTO_CLEANUP = True  # S3_AUTO_CLEANUP: delete a job's objects once the job has expired
HISTORY_RETENTION_DAYS = 90  # HISTORY_RETENTION_DAYS: the archive forgets jobs that ended this long ago (0: never)
ARCHIVE_FEED_CAP = 1_000_000  # not a setting: the archive feed's length cap (entries beyond it, oldest first, are lost)
ARCHIVE_BATCH = 500  # not a setting: feed entries the archiver writes per transaction
ARCHIVE_LINGER_SECONDS = 0.25  # not a setting: after a short batch the archiver waits this long for more
ARCHIVE_RECLAIM_IDLE_SECONDS = 60.0  # not a setting: a feed entry pending this long on an archiver moves to another
ARCHIVE_RETENTION_EVERY_SECONDS = 3600.0  # not a setting: how often an archiver deletes what retention allows
WORKER_AUTH_MODE = "mixed"  # WORKER_AUTH_MODE: mixed, mtls-only or token-only (ADR 0024)
STS_ACCESS_TOKEN_TTL_SECONDS = 3600  # STS_ACCESS_TOKEN_TTL_SECONDS: how long an STS access token works
STS_REFRESH_TOKEN_TTL_SECONDS = 86400  # STS_REFRESH_TOKEN_TTL_SECONDS: how long an unused refresh token works
STS_REFRESH_GRACE_SECONDS = 10.0  # not a setting: a refresh token just replaced still works this long (ADR 0024)
STS_SIGNING_KEYS_KEPT = 32  # not a setting: a worker's newest access tokens whose signatures are accepted
