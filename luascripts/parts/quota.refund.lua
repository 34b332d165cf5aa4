-- quota refund: take cost units off the stored period's count, never below 0. A period that
-- has ended is not current, so the next check or peek ignores its count whatever it holds:
-- no calendar arithmetic is needed here. ARGV as quota.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cost = tonumber(ARGV[3])

local count = redis.call('HGET', key, 'c')
if count then
  redis.call('HSET', key, 'c', string.format('%.0f', math.max(0, (tonumber(count) or 0) - cost)))
end
return {now, ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
