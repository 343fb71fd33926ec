-- KEYS: group. ARGV: expected version, header, TTL in ms (0: not terminal), then per branch: key,
-- current task id ('' when it is the key), branch. As commit_job.lua, and the branches go in with the
-- header; a retried task id is recorded so that it finds its branch. Returns the version found.
local found = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if found ~= tonumber(ARGV[1]) then return found end
redis.call('HSET', KEYS[1], 'v', found + 1, 's', ARGV[2])
for i = 4, #ARGV, 3 do
  redis.call('HSET', KEYS[1], 'b:' .. ARGV[i], ARGV[i + 2])
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], 't:' .. ARGV[i + 1], ARGV[i]) end
end
if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return found
