-- gcra.forecast: [spendableNow, nextReplenishAt, fullAt] for requests of `cost`, without writing.
-- KEYS[1] state key (STRING, see gcra.check). ARGV: now (0 = Redis clock), periodMs, limit, burst, cost.
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

local tatE = now
local stored = redis.call('GET', key)
if stored then tatE = tonumber(stored) end
tatE = math.max(tatE, now)

local k = math.max(0, math.floor((tau - (tatE - now)) / T))
local spendable = math.floor(k / cost)
if tatE <= now then
  return {spendable, now, now}
end
return {spendable, math.ceil(tatE - tau + (k + 1) * T), math.ceil(tatE)}
