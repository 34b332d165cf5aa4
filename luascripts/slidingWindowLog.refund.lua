-- slidingWindowLog.refund: give back units a check consumed, never beyond full, then answer as
-- slidingWindowLog.peek does. Generated from parts/slidingWindowLog.refund.lua and slidingWindowLog.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
-- slidingWindowLog refund: drop the expired entries as a check does, then the cost newest
-- entries (latest score first; among equal scores the highest unit number, so that the
-- names later checks give never meet a name still in the log). ARGV as
-- slidingWindowLog.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])

redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - windowMs))
local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local entries = {}
for i = 1, #flat, 2 do
  local member = flat[i]
  local dash = string.find(member, '-[^-]*$')
  entries[#entries + 1] = {member, tonumber(flat[i + 1]), tonumber(string.sub(member, (dash or 0) + 1)) or 0}
end
table.sort(entries, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[3] > b[3]
end)
for i = 1, math.min(cost, #entries) do
  redis.call('ZREM', key, entries[i][1])
end
return {now, ARGV[2], ARGV[3]}
end

-- slidingWindowLog.peek.lua, unchanged
local function peek(KEYS, ARGV)
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
end

return peek(KEYS, refund(KEYS, ARGV))
