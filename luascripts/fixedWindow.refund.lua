-- fixedWindow.refund: give back units a check consumed, never beyond full, then answer as
-- fixedWindow.peek does. Generated from parts/fixedWindow.refund.lua and fixedWindow.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
-- fixedWindow refund: take cost units off the current window's count, never below 0 (a window
-- already over holds nothing to give back). ARGV as fixedWindow.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local ws = math.floor(now / windowMs) * windowMs
local state = redis.call('HMGET', key, 's', 'c')
if state[1] and tonumber(state[1]) == ws then
  local count = math.max(0, (tonumber(state[2]) or 0) - cost)
  redis.call('HSET', key, 'c', string.format('%.0f', count))
end
return {now, ARGV[2], ARGV[3]}
end

-- fixedWindow.peek.lua, unchanged
local function peek(KEYS, ARGV)
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
end

return peek(KEYS, refund(KEYS, ARGV))
