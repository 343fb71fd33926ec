-- KEYS: skill queue, offers, task jobs, sequence, lease, task groups, reservations, worker loads.
-- ARGV: task id, job id, score (``push_task``), offer, channel, message (skill NUL origin), group id ('' for a job's own task),
-- reservation (msgpack [worker id, until], '' for none), reserved worker id and its last_seen
-- ('' for no load count). Queues the task unless it is queued or leased; returns 1 if queued.
-- A load entry is "last_seen:count"; a new last_seen starts the count over.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local member = string.format('%020d', redis.call('INCR', KEYS[4])) .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[1], ARGV[3], member)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[6], ARGV[1], ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[7], ARGV[1], ARGV[8]) end
if ARGV[10] ~= '' then
  local current = redis.call('HGET', KEYS[8], ARGV[9])
  local count = 1
  if current then
    local sep = string.find(current, ':', 1, true)
    if string.sub(current, 1, sep - 1) == ARGV[10] then count = tonumber(string.sub(current, sep + 1)) + 1 end
  end
  redis.call('HSET', KEYS[8], ARGV[9], ARGV[10] .. ':' .. count)
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
