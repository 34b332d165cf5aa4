-- fixedWindow refund: take cost units off the current window's count, never below 0 (a window
-- already over holds nothing to give back). ARGV as fixedWindow.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local ws = math.floor(now / windowMs) * windowMs
local state = redis.call('HMGET', key, 's', 'c')
if state[1] and tonumber(state[1]) == ws then
  local count = math.max(0, (tonumber(state[2]) or 0) - cost)
  redis.call('HSET', key, 'c', string.format('%.0f', count))
end
return {now, ARGV[2], ARGV[3]}
