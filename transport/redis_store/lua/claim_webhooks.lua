-- KEYS: webhook items, webhook due. ARGV: now, limit, until.
-- The pending deliveries due at now (earliest first, at most limit), each made due at until (its
-- claim's lease) in this same step, so no other claim takes it before then. Returns the items.
local items = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  local item = redis.call('HGET', KEYS[1], id)
  if item then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[3], id)
    items[#items + 1] = item
  else
    redis.call('ZREM', KEYS[2], id)  -- no record: nothing to deliver
  end
end
return items
