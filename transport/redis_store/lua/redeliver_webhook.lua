-- KEYS: webhook items, webhook due, the client's dead list. ARGV: delivery id, due at, delivery
-- (msgpack, reset by the caller from the dead one it read).
-- Makes a dead delivery of the client pending again. Returns 1 if it was on the dead list, else 0.
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
