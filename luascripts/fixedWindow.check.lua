-- fixedWindow.check: count `cost` units in the current epoch-aligned window or deny without writing.
-- KEYS[1] state key (HASH: s = window start, c = count, plain integers).
-- ARGV: now (0 = Redis clock), limit, windowMs, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local ws = math.floor(now / windowMs) * windowMs
local resetAt = ws + windowMs
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and tonumber(state[1]) == ws then count = tonumber(state[2]) or 0 end

if count + cost <= limit then
  redis.call('HSET', key, 's', string.format('%.0f', ws), 'c', string.format('%.0f', count + cost))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(resetAt - now))))
  return {1, limit, limit - (count + cost), resetAt, 0}
end
return {0, limit, math.max(0, limit - count), resetAt, math.ceil(resetAt - now)}
