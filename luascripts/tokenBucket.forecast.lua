-- tokenBucket.forecast: [spendableNow, nextReplenishAt, fullAt] for requests of `cost`, without writing.
-- KEYS[1] state key (HASH, see tokenBucket.check). ARGV: now (0 = Redis clock), capacity, refillPerSec, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local capacity = tonumber(ARGV[2])
local refillPerSec = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local r = refillPerSec / 1000
local state = redis.call('HMGET', key, 't', 'l')
local tokens = capacity
if state[1] then tokens = tonumber(state[1]) end
local last = now
if state[2] then last = tonumber(state[2]) end
tokens = math.min(capacity, tokens + math.max(0, now - last) * r)

local spendable = math.floor(tokens / cost)
if tokens >= capacity then
  return {spendable, now, now}
end
return {spendable, now + math.ceil((math.floor(tokens) + 1 - tokens) / r), now + math.ceil((capacity - tokens) / r)}
