-- tokenBucket.check: take `cost` tokens from a refilling bucket or deny without writing.
-- KEYS[1] state key (HASH: t = tokens, l = time of last write, both '%.17g').
-- ARGV: now (0 = Redis clock), capacity, refillPerSec, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local capacity = tonumber(ARGV[2])
local refillPerSec = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local r = refillPerSec / 1000
local state = redis.call('HMGET', key, 't', 'l')
local tokens = capacity
if state[1] then tokens = tonumber(state[1]) end
local last = now
if state[2] then last = tonumber(state[2]) end
tokens = math.min(capacity, tokens + math.max(0, now - last) * r)
local ttl = math.max(1, math.ceil(capacity / r))

if tokens >= cost then
  local left = tokens - cost
  redis.call('HSET', key, 't', string.format('%.17g', left), 'l', string.format('%.17g', now))
  redis.call('PEXPIRE', key, string.format('%.0f', ttl))
  return {1, capacity, math.max(0, math.floor(left)), now + math.ceil((capacity - left) / r), 0}
end
return {0, capacity, math.max(0, math.floor(tokens)), now + math.ceil((capacity - tokens) / r), math.ceil((cost - tokens) / r)}
