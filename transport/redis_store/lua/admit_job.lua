-- KEYS: the day counter, the month counter, the running set.
-- ARGV: job id, day limit, month limit, running limit (-1: unlimited), day TTL ms, month TTL ms.
-- Checks every limited quota, then counts the job against all of them: '' when admitted, else
-- the name of the first quota spent, with nothing counted.
local day, month, running = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if day >= 0 and (tonumber(redis.call('GET', KEYS[1])) or 0) >= day then return 'jobs_per_day' end
if month >= 0 and (tonumber(redis.call('GET', KEYS[2])) or 0) >= month then return 'monthly_attempts' end
if running >= 0 then
  local n = redis.call('SCARD', KEYS[3]) - redis.call('SISMEMBER', KEYS[3], ARGV[1])
  if n >= running then return 'max_running_jobs' end
end
if day >= 0 then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if month >= 0 then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
if running >= 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
return ''
