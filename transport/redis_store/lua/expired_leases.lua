-- KEYS: lease expiry. ARGV: lease key family, now, limit. The leases expired at ``now``, earliest
-- first; an expiry entry whose lease is gone (its backstop TTL ran out) is dropped on the way.
local leases = {}
for _, task_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
  local raw = redis.call('GET', ARGV[1] .. task_id)
  if raw then leases[#leases + 1] = raw else redis.call('ZREM', KEYS[1], task_id) end
end
return leases
