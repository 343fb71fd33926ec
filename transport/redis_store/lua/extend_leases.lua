-- KEYS: lease expiry, then the lease of each task. ARGV: worker id, until, lease backstop TTL in ms,
-- then the task ids (in KEYS order). Moves the worker's leases to ``until`` (never back) and
-- restarts their backstop TTL; returns the ids of the worker's leases.
local held = {}
local new_expiry = tonumber(ARGV[2])
for i = 2, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local lease = cmsgpack.unpack(raw)
    if lease.worker_id == ARGV[1] then
      if new_expiry > (lease.expires_at or 0) then
        lease.expires_at = new_expiry
        redis.call('SET', KEYS[i], cmsgpack.pack(lease), 'PX', ARGV[3])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i + 2])
      end
      held[#held + 1] = ARGV[i + 2]
    end
  end
end
return held
