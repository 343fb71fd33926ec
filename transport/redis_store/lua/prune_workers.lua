-- KEYS: all workers, index registry. ARGV: now. Drops entries expired at ``now`` from every set.
if redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[2], key) end
end
return 1
