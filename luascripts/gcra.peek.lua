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
