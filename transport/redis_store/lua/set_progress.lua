-- KEYS: progress, job. ARGV: value, TTL in ms if there is no job. Progress expires with its job.
redis.call('SET', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl)
elseif ttl == -2 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
