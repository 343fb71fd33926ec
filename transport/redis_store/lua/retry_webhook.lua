-- KEYS: webhook items, webhook due. ARGV: delivery id, due at, delivery (msgpack).
-- Stores the delivery and its new due time if it is still pending. Returns 1 if so, else 0.
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
