-- fixedWindow.forecast: [spendableNow, nextReplenishAt, fullAt] for requests of `cost`, without writing.
-- KEYS[1] state key (HASH, see fixedWindow.check). ARGV: now (0 = Redis clock), limit, windowMs, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local ws = math.floor(now / windowMs) * windowMs
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and tonumber(state[1]) == ws then count = tonumber(state[2]) or 0 end

local avail = math.max(0, limit - count)
local boundary = math.ceil(ws + windowMs)
return {math.floor(avail / cost), boundary, boundary}
