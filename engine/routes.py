"""Mailbox names: every route a message can be published to, in one place."""

JOBS = "jobs"  # keyed by job id, sharded, one message at a time per job
ROUTER = "router"  # keyed by skill (task type)
EVENTS = "events"  # keyed by job id; news for the job's webhook (its end, a wait for a person, worker events)
AGGREGATOR = "aggregator"  # keyed by group id; a fan-out's branch pickups, results and deadlines
FILES = "files"  # keyed by job id; the files actor's purges of expired jobs' objects
HOLON = "holon"  # keyed by job id; ends of the jobs a parent orchestrator's tasks created (Pure Holon mode)

ALL = (JOBS, ROUTER, EVENTS, AGGREGATOR, HOLON, FILES)
