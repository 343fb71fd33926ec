-- KEYS: group. ARGV: task id. The branch that ran the task id (first or retried), or nil.
local branch = redis.call('HGET', KEYS[1], 'b:' .. ARGV[1])
if branch then return branch end
local key = redis.call('HGET', KEYS[1], 't:' .. ARGV[1])
if key then return redis.call('HGET', KEYS[1], 'b:' .. key) end
return false
