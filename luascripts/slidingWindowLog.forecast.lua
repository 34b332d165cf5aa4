-- slidingWindowLog.forecast: [spendableNow, nextReplenishAt, fullAt] for requests of `cost`,
-- without writing (live entries only: score > now - windowMs).
-- KEYS[1] state key (ZSET, see slidingWindowLog.check). ARGV: now (0 = Redis clock), windowMs, limit, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local liveFrom = '(' .. string.format('%.17g', now - windowMs)
local count = redis.call('ZCOUNT', key, liveFrom, '+inf')
local spendable = math.floor(math.max(0, limit - count) / cost)
if count == 0 then
  return {spendable, now, now}
end

local first = tonumber(redis.call('ZRANGEBYSCORE', key, liveFrom, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2])
local last = tonumber(redis.call('ZREVRANGEBYSCORE', key, '+inf', liveFrom, 'WITHSCORES', 'LIMIT', 0, 1)[2])
return {spendable, math.ceil(first + windowMs), math.ceil(last + windowMs)}
