-- slidingWindowLog.peek: the Decision a check of cost 1 would get, without writing
-- (not even the prune: entries with score <= now - windowMs are simply not counted).
-- KEYS[1] state key (ZSET, see slidingWindowLog.check). ARGV: now (0 = Redis clock), windowMs, limit.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])

local liveFrom = '(' .. string.format('%.17g', now - windowMs)
local count = redis.call('ZCOUNT', key, liveFrom, '+inf')

local oldest = now
if count > 0 then
  oldest = tonumber(redis.call('ZRANGEBYSCORE', key, liveFrom, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2])
end
local remaining = math.max(0, limit - count)
local resetAt = math.ceil(oldest + windowMs)

if count + 1 <= limit then
  return {1, limit, remaining, resetAt, 0}
end

local retry
if count == 0 then
  retry = windowMs
else
  local k = math.min(math.max(count + 1 - limit, 1), count)
  local ref = tonumber(redis.call('ZRANGEBYSCORE', key, liveFrom, '+inf', 'WITHSCORES', 'LIMIT', k - 1, 1)[2])
  retry = math.max(1, math.ceil(ref + windowMs - now))
end
return {0, limit, remaining, resetAt, retry}
