-- KEYS: job or group. ARGV: state. Creates version 1 unless it exists; returns 1 if created.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 's', ARGV[1])
return 1
