-- tokenBudget.peek: the budget left in the current window, without writing.
-- KEYS[1] state key (HASH, see tokenBudget.debit). ARGV: now (0 = Redis clock), budget, windowMs.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local budget = math.floor(tonumber(ARGV[2]))
local windowMs = tonumber(ARGV[3])

local state = redis.call('HMGET', key, 's', 'w')
local served = tonumber(state[1])
local start = tonumber(state[2])
if served == nil or start == nil or now >= start + windowMs then
  start = math.floor(now / windowMs) * windowMs
  served = 0
end
local resetAt = math.ceil(start + windowMs)

if served < budget then
  return {1, budget, math.max(0, budget - served), resetAt, 0}
end
return {0, budget, math.max(0, budget - served), resetAt, math.max(0, math.ceil(resetAt - now))}
