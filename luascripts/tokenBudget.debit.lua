-- tokenBudget.debit: count `tokens` spent after the fact against a windowed budget.
-- KEYS[1] state key (HASH: s = tokens served in the window, w = window start, plain integers).
-- ARGV: now (0 = Redis clock), budget, windowMs, tokens.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local budget = math.floor(tonumber(ARGV[2]))
local windowMs = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])

local state = redis.call('HMGET', key, 's', 'w')
local served = tonumber(state[1])
local start = tonumber(state[2])
-- A clock that moves backwards never rolls the window back.
if served == nil or start == nil or now >= start + windowMs then
  start = math.floor(now / windowMs) * windowMs
  served = 0
end
local resetAt = math.ceil(start + windowMs)

if served >= budget then
  return {0, budget, 0, resetAt, math.max(0, math.ceil(resetAt - now))}
end

-- Counted in full even when it crosses the budget: the tokens were already spent.
served = served + tokens
redis.call('HSET', key, 's', string.format('%.0f', served), 'w', string.format('%.0f', start))
redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(start + windowMs - now))))
return {1, budget, math.max(0, budget - served), resetAt, 0}
