-- slidingWindow.refund: give back units a check consumed, never beyond full, then answer as
-- slidingWindow.peek does. Generated from parts/slidingWindow.refund.lua and slidingWindow.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
-- slidingWindow refund: take cost units off the buckets of the trailing window, newest first,
-- never below 0 (units of buckets already out of the window are gone by themselves). ARGV as
-- slidingWindow.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
local buckets = tonumber(ARGV[5])

local function int(x) return string.format('%.0f', x) end
local slots = buckets + 1
local c = math.floor(now / (windowMs / buckets))
local left = cost
for idx = c, c - buckets, -1 do
  if left <= 0 then break end
  local field = int(idx % slots)
  local value = redis.call('HGET', key, field)
  local sep = value and string.find(value, ':', 1, true)
  if sep and tonumber(string.sub(value, 1, sep - 1)) == idx then
    local count = tonumber(string.sub(value, sep + 1)) or 0
    local take = math.min(count, left)
    if take > 0 then
      redis.call('HSET', key, field, int(idx) .. ':' .. int(count - take))
      left = left - take
    end
  end
end
return {now, ARGV[2], ARGV[3], ARGV[5]}
end

-- slidingWindow.peek.lua, unchanged
local function peek(KEYS, ARGV)
-- slidingWindow.peek: the Decision a check of cost 1 would get, without writing.
-- KEYS[1] state key (HASH ring, see slidingWindow.check). ARGV: now (0 = Redis clock), windowMs, limit, buckets.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local buckets = tonumber(ARGV[4])

local function int(x) return string.format('%.0f', x) end

local function countOf(value, idx)
  if not value then return 0 end
  local sep = string.find(value, ':', 1, true)
  if not sep or tonumber(string.sub(value, 1, sep - 1)) ~= idx then return 0 end
  return tonumber(string.sub(value, sep + 1)) or 0
end

local slots = buckets + 1
local w = windowMs / buckets
local c = math.floor(now / w)
local e = math.max(0, now - c * w)
local weight = math.min(1, math.max(0, (w - e) / w))

local fields = {}
for j = c - buckets, c do fields[#fields + 1] = int(j % slots) end
local vals = redis.call('HMGET', key, unpack(fields))

local oldest = countOf(vals[1], c - buckets)
local full = 0
for i = 2, slots do full = full + countOf(vals[i], c - buckets + i - 1) end
local est = full + oldest * weight
local resetAt = math.ceil((c + 1) * w + windowMs)
local remaining = math.max(0, math.floor(limit - est))

if est + 1 <= limit then
  return {1, limit, remaining, resetAt, 0}
end

local D = est + 1 - limit
local retry
if oldest > 0 and D <= oldest * weight then
  retry = math.ceil(D * w / oldest)
else
  retry = math.ceil((c + 1) * w - now)
end
return {0, limit, remaining, resetAt, math.max(1, retry)}
end

return peek(KEYS, refund(KEYS, ARGV))
