-- fixedWindow.peek: the Decision a check of cost 1 would get, without writing.
-- KEYS[1] state key (HASH, see fixedWindow.check). ARGV: now (0 = Redis clock), limit, windowMs.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])

local ws = math.floor(now / windowMs) * windowMs
local resetAt = ws + windowMs
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and tonumber(state[1]) == ws then count = tonumber(state[2]) or 0 end

local remaining = math.max(0, math.floor(limit - count))
if count + 1 <= limit then
  return {1, limit, remaining, math.ceil(ws + windowMs), 0}
end
return {0, limit, remaining, math.ceil(ws + windowMs), math.ceil(resetAt - now)}
