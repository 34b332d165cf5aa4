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
