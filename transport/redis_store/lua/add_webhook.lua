-- KEYS: webhook items, webhook due. ARGV: delivery id, due at, delivery (msgpack).
-- Queues the delivery unless one with its id is pending or dead. Returns 1 if queued, else 0.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
