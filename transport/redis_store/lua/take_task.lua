-- KEYS: offers, task jobs, task groups, lease expiry, reservations, then one queue per skill.
-- ARGV: lease key family, worker id, taken at, lease backstop TTL in ms, expires at, now (for
-- reservations), scan limit, job key family ("": do not read the job). In each queue, the first of its ``scan limit`` head entries not
-- reserved for another worker until after ``now`` is that queue's candidate; pops the best
-- candidate (lowest score, then lowest sequence: see ``push_task``), writes its lease (msgpack map,
-- decoded as ``Lease``) and its expiry, and returns its offer, or nil; with a job key family,
-- {offer, the job's version, the job's state} (both nil if the job is gone).
local best, best_member, best_score, best_seq
local now, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
for i = 6, #KEYS do
  local entries = redis.call('ZRANGE', KEYS[i], 0, limit - 1, 'WITHSCORES')
  for j = 1, #entries, 2 do
    local raw = redis.call('HGET', KEYS[5], string.sub(entries[j], 22))
    local reservation = raw and cmsgpack.unpack(raw)
    if not reservation or reservation[1] == ARGV[2] or tonumber(reservation[2]) <= now then
      local score, seq = tonumber(entries[j + 1]), tonumber(string.sub(entries[j], 1, 20))
      if not best or score < best_score or (score == best_score and seq < best_seq) then
        best, best_member, best_score, best_seq = KEYS[i], entries[j], score, seq
      end
      break
    end
  end
end
if not best then return false end
redis.call('ZREM', best, best_member)
local task_id = string.sub(best_member, 22)
local offer = redis.call('HGET', KEYS[1], task_id)
local job_id = redis.call('HGET', KEYS[2], task_id)
local group_id = redis.call('HGET', KEYS[3], task_id)
redis.call('HDEL', KEYS[1], task_id)
redis.call('HDEL', KEYS[2], task_id)
redis.call('HDEL', KEYS[3], task_id)
redis.call('HDEL', KEYS[5], task_id)
local lease = {task_id = task_id, job_id = job_id, worker_id = ARGV[2], taken_at = tonumber(ARGV[3]),
               expires_at = tonumber(ARGV[5])}
if group_id then lease.group_id = group_id end
redis.call('SET', ARGV[1] .. task_id, cmsgpack.pack(lease), 'PX', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], task_id)
if ARGV[8] == '' then return offer end
local job = redis.call('HMGET', ARGV[8] .. job_id, 'v', 's')
return {offer, job[1], job[2]}
