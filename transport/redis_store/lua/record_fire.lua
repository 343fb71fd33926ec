-- KEYS: the schedule-fires hash. ARGV: schedule name, fire time (whole epoch seconds), job id.
-- Records "<at>:<job id>" as the schedule's last fire unless one at the same or a later time is
-- recorded; returns 1 if recorded.
local last = redis.call('HGET', KEYS[1], ARGV[1])
if last and tonumber(string.match(last, '^(-?%d+):')) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1
