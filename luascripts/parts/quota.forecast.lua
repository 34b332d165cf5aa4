-- quota.forecast (ours: upstream has no forecast for a windowed quota): [spendableNow,
-- Generated from parts/quota.forecast.lua and parts/quota.period.lua (go test ./luascripts -run
-- TestComposed -update); edit those.
-- nextReplenishAt, fullAt] for requests of `cost`, without writing. The budget only grows back
-- at the period's end, so both instants are that boundary.
-- KEYS[1] state key (HASH, see quota.check). ARGV: now (0 = Redis clock), limit, cost, mode,
-- periodMs, anchor, offsetMs, weekStartsOn.
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

local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and state[2] and tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end

local avail = math.max(0, limit - count)
local boundary = math.ceil(reset)
return {math.floor(avail / cost), boundary, boundary}
