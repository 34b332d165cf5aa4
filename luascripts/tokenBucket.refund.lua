-- tokenBucket.refund: give back units a check consumed, never beyond full, then answer as
-- tokenBucket.peek does. Generated from parts/tokenBucket.refund.lua and tokenBucket.peek.lua
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
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
end

-- tokenBucket.peek.lua, unchanged
local function peek(KEYS, ARGV)
-- tokenBucket.peek: the Decision a check of cost 1 would get, without writing.
-- KEYS[1] state key (HASH, see tokenBucket.check). ARGV: now (0 = Redis clock), capacity, refillPerSec.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local capacity = tonumber(ARGV[2])
local refillPerSec = tonumber(ARGV[3])

local r = refillPerSec / 1000
local state = redis.call('HMGET', key, 't', 'l')
local tokens = capacity
if state[1] then tokens = tonumber(state[1]) end
local last = now
if state[2] then last = tonumber(state[2]) end
tokens = math.min(capacity, tokens + math.max(0, now - last) * r)

local resetAt = now + math.ceil((capacity - tokens) / r)
if tokens >= 1 then
  return {1, capacity, math.max(0, math.floor(tokens)), resetAt, 0}
end
return {0, capacity, math.max(0, math.floor(tokens)), resetAt, math.ceil((1 - tokens) / r)}
end

return peek(KEYS, refund(KEYS, ARGV))
