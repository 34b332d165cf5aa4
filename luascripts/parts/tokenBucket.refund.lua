-- tokenBucket refund: refill to now as a check does, then add cost tokens, never above the
-- capacity (a full bucket has no state: the key goes). ARGV as tokenBucket.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local capacity = tonumber(ARGV[2])
local r = tonumber(ARGV[3]) / 1000
local cost = tonumber(ARGV[4])

local state = redis.call('HMGET', key, 't', 'l')
if state[1] then
  local tokens = tonumber(state[1])
  local last = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - last) * r)
  tokens = math.min(capacity, tokens + cost)
  if tokens >= capacity then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 't', string.format('%.17g', tokens), 'l', string.format('%.17g', now))
    redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(capacity / r))))
  end
end
return {now, ARGV[2], ARGV[3]}
