-- KEYS: the worker's issued set, the new refresh token's hash, the refresh token replaced (or the
-- new one again when none is). ARGV: worker id, now, issued member, refresh ttl (ms), keep,
-- replacing (1/0), grace (seconds), refresh lifetime (seconds).
-- Returns "issued", or why not: "unknown", "other-worker", "stale" (nothing written then).
local worker, now = ARGV[1], tonumber(ARGV[2])
if ARGV[6] == '1' then
  local old = redis.call('HMGET', KEYS[3], 'w', 'r')
  if not old[1] then return 'unknown' end
  if old[1] ~= worker then return 'other-worker' end
  if old[2] then
    if now - tonumber(old[2]) > tonumber(ARGV[7]) then return 'stale' end
  else
    redis.call('HSET', KEYS[3], 'r', ARGV[2])
  end
end
redis.call('HSET', KEYS[2], 'w', worker)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. tostring(now - tonumber(ARGV[8])))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[5]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'issued'
