-- KEYS: deadlines, deadline items. ARGV: envelope id, at, item (``deadlines.deadline_args``). Adds the deadline
-- unless the id is scheduled (then a no-op, whatever ``at``), as commit_job.lua adds a job's.
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])
