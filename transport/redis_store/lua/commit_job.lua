-- KEYS: job, its progress and its history (both expire with it), the quarantine index of its client,
-- deadlines, deadline items, the archive feed. ARGV: expected version, state, TTL in ms (0: none), n, m,
-- history limit, quarantine score ('' when the job is not quarantined), job id, the feed's length cap
-- ('0': no archive), the committed events as one msgpack list (for the feed), then n deadlines to add
-- (``deadlines.deadline_args``), m history events to append, then the envelope ids of the deadlines to remove.
-- Returns the version found (-1: none); the state was written, the history appended, the index
-- updated, the deadlines removed then added (ZADD NX, as ``schedule``) and the feed appended to,
-- iff it equals the expected one.
local found = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if found ~= tonumber(ARGV[1]) then return found end
redis.call('HSET', KEYS[1], 'v', found + 1, 's', ARGV[2])
local events = 11 + 3 * tonumber(ARGV[4])
local removed = events + tonumber(ARGV[5])
if removed > events then
  for i = events, removed - 1, 1000 do  -- unpack is bounded by Lua's stack
    redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 999, removed - 1)))
  end
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
end
for i = 1, 3 do
  if ARGV[3] == '0' then redis.call('PERSIST', KEYS[i]) else redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
if ARGV[7] == '' then redis.call('ZREM', KEYS[4], ARGV[8]) else redis.call('ZADD', KEYS[4], ARGV[7], ARGV[8]) end
for i = removed, #ARGV do
  redis.call('ZREM', KEYS[5], ARGV[i])
  redis.call('HDEL', KEYS[6], ARGV[i])
end
for i = 11, events - 1, 3 do
  redis.call('ZADD', KEYS[5], 'NX', ARGV[i + 1], ARGV[i])
  redis.call('HSETNX', KEYS[6], ARGV[i], ARGV[i + 2])
end
if ARGV[9] ~= '0' then redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[9], '*', 's', ARGV[2], 'e', ARGV[10]) end
return found
