-- KEYS: skill queue, offers, task jobs, sequence, lease, task groups, reservations, worker loads.
-- ARGV: task id, job id, score (``push_task``), offer, channel, message (skill NUL origin: the
-- reserved worker is appended, NUL first), group id
-- ('' for a job's own task), reservation (msgpack [worker id, until], '' for none), reserved worker
-- id and its last_seen ('' for no load count); then, to let the script choose the worker
-- (``push_task_reserved``; ARGV 8 to 10 are then ignored): reserved until, and per contender its
-- worker id, last_seen, base load and tier, ordered by tier then id. Queues the task unless it is
-- queued or leased; returns 0 if not, else the chosen worker id, or 1 if none was chosen here.
-- A load entry is "last_seen:count"; a new last_seen starts the count over.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local reservation, reserved_for, since = ARGV[8], ARGV[9], ARGV[10]
local function count_of(worker, seen)
  local current = redis.call('HGET', KEYS[8], worker)
  if not current then return 0 end
  local sep = string.find(current, ':', 1, true)
  if string.sub(current, 1, sep - 1) ~= seen then return 0 end
  return tonumber(string.sub(current, sep + 1))
end
if #ARGV > 11 then
  local best_tier, best_load
  for i = 12, #ARGV, 4 do  -- the first of equals wins: the caller ordered them by tier, then id
    local tier = tonumber(ARGV[i + 3])
    local load = tonumber(ARGV[i + 2]) + count_of(ARGV[i], ARGV[i + 1])
    if not best_tier or tier < best_tier or (tier == best_tier and load < best_load) then
      best_tier, best_load, reserved_for, since = tier, load, ARGV[i], ARGV[i + 1]
    end
  end
  reservation = cmsgpack.pack({reserved_for, tonumber(ARGV[11])})
end
local member = string.format('%020d', redis.call('INCR', KEYS[4])) .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[1], ARGV[3], member)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[6], ARGV[1], ARGV[7]) end
if reservation ~= '' then redis.call('HSET', KEYS[7], ARGV[1], reservation) end
if since ~= '' then
  redis.call('HSET', KEYS[8], reserved_for, since .. ':' .. (count_of(reserved_for, since) + 1))
end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. '\0' .. reserved_for)
if #ARGV > 11 then return reserved_for end
return 1
