"""Mailbox names: every route a message can be published to, in one place."""

JOBS = "jobs"  # keyed by job id, sharded, one message at a time per job
ROUTER = "router"  # keyed by skill (task type)
EVENTS = "events"  # keyed by job id; terminal-job notifications (webhooks)
AGGREGATOR = "aggregator"  # keyed by group id; a fan-out's branch pickups, results and deadlines
FILES = "files"  # keyed by job id; the files actor's purges of expired jobs' objects

ALL = (JOBS, ROUTER, EVENTS, AGGREGATOR, FILES)
