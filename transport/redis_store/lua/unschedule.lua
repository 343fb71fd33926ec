-- KEYS: deadlines, deadline items. ARGV: envelope ids. Removes them (unknown ids are ignored).
redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
