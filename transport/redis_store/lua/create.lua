-- KEYS: job or group [, the archive feed]. ARGV: state [, the feed's length cap]. Creates version 1
-- unless it exists; returns 1 if created. With a feed, a creation also appends the state to it.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 's', ARGV[1])
if KEYS[2] then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 's', ARGV[1]) end
return 1
