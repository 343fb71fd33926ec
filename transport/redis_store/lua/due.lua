-- KEYS: deadlines, deadline items. ARGV: now, limit. The due envelopes, earliest first.
local items = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then items[#items + 1] = item end
end
return items
