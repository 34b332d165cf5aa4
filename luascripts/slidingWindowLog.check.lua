-- slidingWindowLog.check: admit `cost` units against an exact log of the trailing window,
-- or deny (the only write on a deny is the prune of expired entries).
-- KEYS[1] state key (ZSET: one member "<now>-<n>" per admitted unit, score = its admission time).
-- ARGV: now (0 = Redis clock), windowMs, limit, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local function int(x) return string.format('%.0f', x) end

-- A score equal to now - windowMs has expired, hence no '(' on the bound.
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - windowMs))
local count = redis.call('ZCARD', key)

if count + cost <= limit then
  -- ZADD in slices: Lua's unpack has a bounded stack and cost may reach the 10,000 cap.
  local score = string.format('%.17g', now)
  local prefix = int(now) .. '-'
  local args = {}
  for i = 1, cost do
    args[#args + 1] = score
    args[#args + 1] = prefix .. int(count + i)
    if #args >= 1000 then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('ZADD', key, unpack(args)) end
  redis.call('PEXPIRE', key, int(math.max(1, math.ceil(windowMs))))
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  return {1, limit, math.max(0, limit - count - cost), math.ceil(oldest + windowMs), 0}
end

local retry
if count == 0 then
  retry = windowMs
else
  local k = math.min(math.max(count + cost - limit, 1), count)
  local ref = tonumber(redis.call('ZRANGE', key, k - 1, k - 1, 'WITHSCORES')[2])
  retry = math.max(1, math.ceil(ref + windowMs - now))
end
local oldest = now
if count > 0 then oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) end
return {0, limit, math.max(0, limit - count), math.ceil(oldest + windowMs), retry}
