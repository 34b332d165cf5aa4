-- tokenBudget.refund: give back units a check consumed, never beyond full, then answer as
-- tokenBudget.peek does. Generated from parts/tokenBudget.refund.lua and tokenBudget.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
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
end

-- tokenBudget.peek.lua, unchanged
local function peek(KEYS, ARGV)
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
end

return peek(KEYS, refund(KEYS, ARGV))
