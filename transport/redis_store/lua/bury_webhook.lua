-- KEYS: webhook items, webhook due, the client's dead list. ARGV: delivery id, dead at, delivery
-- (msgpack), how many dead deliveries the client keeps.
-- Moves a pending delivery to the dead list, then deletes the client's oldest dead deliveries
-- beyond the limit. Returns 1 if it was pending, else 0 (nothing changes).
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  redis.call('HDEL', KEYS[1], unpack(oldest))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
end
return 1
