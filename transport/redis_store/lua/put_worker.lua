-- KEYS: record, all workers, this worker's index list, index registry, then its capability and hot
-- sets. ARGV: worker id, record, expires_at, TTL in ms. Leaves the sets the worker no longer has.
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local wanted = {}
for i = 5, #KEYS do wanted[KEYS[i]] = true end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if not wanted[key] then redis.call('ZREM', key, ARGV[1]) end
end
redis.call('DEL', KEYS[3])
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  redis.call('SADD', KEYS[3], KEYS[i])
  redis.call('SADD', KEYS[4], KEYS[i])
end
if #KEYS > 4 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
