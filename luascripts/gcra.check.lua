-- gcra.check: admit `cost` cells of a GCRA limiter or deny without writing.
-- KEYS[1] state key (STRING: the theoretical arrival time, '%.17g').
-- ARGV: now (0 = Redis clock), periodMs, limit, burst, cost.
-- Formulas and operation order follow lua-contract.md literally: float results depend on them.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local periodMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])

local T = periodMs / limit
local tau = T * burst
local inc = T * cost

local tat = now
local stored = redis.call('GET', key)
if stored then tat = tonumber(stored) end
tat = math.max(tat, now)

local newTat = tat + inc
local allowAt = newTat - tau
if now < allowAt then
  return {0, burst, math.max(0, math.floor((tau - (tat - now)) / T)), math.ceil(tat), math.ceil(allowAt - now)}
end

redis.call('SET', key, string.format('%.17g', newTat), 'PX', string.format('%.0f', math.max(1, math.ceil(newTat - now))))
return {1, burst, math.max(0, math.floor((tau - (newTat - now)) / T)), math.ceil(newTat), 0}
