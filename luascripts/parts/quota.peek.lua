-- quota.peek: the Decision a check of cost 1 would get, without writing.
-- Generated from parts/quota.peek.lua and parts/quota.period.lua (go test ./luascripts -run
-- TestComposed -update); edit those.
-- KEYS[1] state key (HASH, see quota.check). ARGV: now (0 = Redis clock), limit, mode,
-- periodMs, anchor, offsetMs, weekStartsOn.
--@include quota.period.lua

local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local start, reset = periodOf(now, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7]))

local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and state[2] and tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end

local remaining = math.max(0, math.floor(limit - count))
if count + 1 <= limit then
  return {1, limit, remaining, math.ceil(reset), 0}
end
return {0, limit, remaining, math.ceil(reset), math.ceil(reset - now)}
