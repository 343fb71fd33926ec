-- KEYS: the bucket. ARGV: now, interval (period / limit), period (epoch seconds, seconds), peek (1/0).
-- engine.limits.gcra, line for line: returns "0" if the call passes (and, unless peek, stores the
-- new theoretical arrival time, expiring when the bucket is full again), else the seconds to wait.
local now, interval, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local new_tat = math.max(tat, now) + interval
local allowed_at = new_tat - period
if allowed_at > now then return tostring(allowed_at - now) end
if ARGV[4] ~= '1' then
  redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) * 1000)))
end
return '0'
