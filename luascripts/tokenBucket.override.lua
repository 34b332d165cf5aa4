-- tokenBucket.override: a tokenBucket check that honours the key's override. Generated from
-- tokenBucket.check.lua and parts/override.lua (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key, KEYS[2] the key's override record (a STRING holding a spec; see
-- docs/redis-keys.md). ARGV: as tokenBucket.check.lua, then the policy file's spec for the key ("" for
-- none). The record, when present, wins over the file's spec. Returns the check's five
-- integers and a sixth: 1 when an override applied, else 0. "unlimited" and "deny" read and
-- write nothing but the record.

-- tokenBucket.check.lua, unchanged
local function check(KEYS, ARGV)
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
end

-- Per-key overrides (docs/policies.md, docs/redis-keys.md). A spec is "unlimited", "deny",
-- or name=value pairs separated by "," replacing the check's ARGV of those names
-- (e.g. "limit=4,burst=8"). o describes the strategy: names (ARGV name -> index), real (the
-- names that take a fraction), caps (largest value per name), limitAt (the reported limit),
-- windowAt (the window; 0 for tokenBucket, whose window is the time to fill up).

-- applyOverride replaces argv's fields as spec says and returns 'fields', or returns
-- 'unlimited' or 'deny'; nil and a reason for a malformed spec.
local function applyOverride(o, spec, argv)
  if spec == 'unlimited' or spec == 'deny' then return spec end
  if spec == '' then return nil, 'empty' end
  for pair in string.gmatch(spec .. ',', '([^,]*),') do
    local name, value = string.match(pair, '^(%a+)=([%w%.%+%-]+)$')
    local at = name and o.names[name]
    if not at then
      return nil, 'bad field "' .. pair .. '" (want unlimited, deny, or name=value pairs of ' .. o.list .. ')'
    end
    local v = tonumber(value)
    local whole = not o.real[name]
    if v == nil or v ~= v or v <= 0 or v > (o.caps[name] or 9007199254740991) or
      (whole and (v % 1 ~= 0 or not string.match(value, '^%d+$'))) then
      return nil, 'bad value "' .. pair .. '"'
    end
    argv[at] = value
  end
  return 'fields'
end

-- overrideDecision is the decision of an unlimited or a deny override at now: unlimited
-- allows with limit and remaining the reported limit, resetAt now, retry 0; deny refuses
-- with remaining 0, resetAt now + the window, retry the window. Neither touches the state.
local function overrideDecision(o, kind, argv, now)
  local limit = tonumber(argv[o.limitAt])
  local window
  if o.windowAt > 0 then
    window = tonumber(argv[o.windowAt])
  else
    window = math.max(1, math.ceil(limit * 1000 / tonumber(argv[o.refillAt])))
  end
  if kind == 'unlimited' then return {1, limit, limit, now, 0, 1} end
  return {0, limit, 0, now + window, window, 1}
end

local o = {names = {capacity = 2, refillPerSec = 3}, real = {refillPerSec = true}, caps = {}, list = "capacity, refillPerSec", limitAt = 2, windowAt = 0, refillAt = 3}
local argv, n = {}, #ARGV - 1
for i = 1, n do argv[i] = ARGV[i] end
local spec, from = ARGV[n + 1], 'policy file spec'
local record = redis.pcall('GET', KEYS[2])
if type(record) == 'table' and record.err then
  return redis.error_reply('ERR override record ' .. KEYS[2] .. ': ' .. tostring(record.err))
end
if record then spec, from = record, 'override record ' .. KEYS[2] end
if spec == '' and not record then
  local r = check({KEYS[1]}, argv)
  r[6] = 0
  return r
end
local kind, problem = applyOverride(o, spec, argv)
if not kind then
  return redis.error_reply('ERR ' .. from .. ': malformed: ' .. problem)
end
if kind == 'fields' then
  local r = check({KEYS[1]}, argv)
  r[6] = 1
  return r
end
local now = tonumber(argv[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return overrideDecision(o, kind, argv, now)
