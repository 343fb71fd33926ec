-- KEYS: lease, lease expiry. ARGV: task id.
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
