-- quota.check: count `cost` units in the current billing period or deny without writing.
-- Generated from parts/quota.check.lua and parts/quota.period.lua (go test ./luascripts -run
-- TestComposed -update); edit those.
-- KEYS[1] state key (HASH: s = period start, c = units admitted in it, plain integers; the
-- layout of upstream's quota, so every client on one key shares one budget).
-- ARGV: now (0 = Redis clock), limit, cost, mode (1 month, 2 week, 3 day, 4 fixed), periodMs,
-- anchor, offsetMs, weekStartsOn.
--@include quota.period.lua

local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start, reset = periodOf(now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]))

-- A count belongs to the period its start names; an older period's count, a missing key or a
-- half-written hash all read as 0.
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and state[2] and tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end

if count + cost <= limit then
  redis.call('HSET', key, 's', string.format('%.0f', start), 'c', string.format('%.0f', count + cost))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(reset - now))))
  return {1, limit, limit - (count + cost), reset, 0}
end
return {0, limit, math.max(0, limit - count), reset, math.ceil(reset - now)}
