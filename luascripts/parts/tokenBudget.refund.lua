-- tokenBudget refund: take tokens off the current window's served count, never below 0 (a
-- window already over holds nothing to give back). ARGV as tokenBudget.debit's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])

local state = redis.call('HMGET', key, 's', 'w')
local served, start = tonumber(state[1]), tonumber(state[2])
if served and start and now < start + windowMs then
  redis.call('HSET', key, 's', string.format('%.0f', math.max(0, served - tokens)))
end
return {now, ARGV[2], ARGV[3]}
