-- KEYS: webhook items, webhook due. ARGV: delivery id. Forgets the delivery if it is pending.
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
