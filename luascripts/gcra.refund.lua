-- gcra.refund: give back units a check consumed, never beyond full, then answer as
-- gcra.peek does. Generated from parts/gcra.refund.lua and gcra.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
-- gcra refund: move the theoretical arrival time back by cost cells, never before now (a
-- full limiter has no state: the key goes). ARGV as gcra.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local periodMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[5])

local stored = redis.call('GET', key)
if stored then
  local tat = math.max(tonumber(stored), now)
  local newTat = tat - (periodMs / limit) * cost
  if newTat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.17g', newTat), 'PX', string.format('%.0f', math.max(1, math.ceil(newTat - now))))
  end
end
return {now, ARGV[2], ARGV[3], ARGV[4]}
end

-- gcra.peek.lua, unchanged
local function peek(KEYS, ARGV)
-- gcra.peek: the Decision a check of cost 1 would get, without writing.
-- KEYS[1] state key (STRING, see gcra.check). ARGV: now (0 = Redis clock), periodMs, limit, burst.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local periodMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])

local T = periodMs / limit
local tau = T * burst

local tatE = now
local stored = redis.call('GET', key)
if stored then tatE = tonumber(stored) end
tatE = math.max(tatE, now)

local rem = math.max(0, math.floor((tau - (tatE - now)) / T))
if rem >= 1 then
  return {1, burst, rem, math.ceil(tatE), 0}
end
return {0, burst, rem, math.ceil(tatE), math.ceil(tatE + T - tau - now)}
end

return peek(KEYS, refund(KEYS, ARGV))
