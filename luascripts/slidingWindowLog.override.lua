-- slidingWindowLog.override: a slidingWindowLog check that honours the key's override. Generated from
-- slidingWindowLog.check.lua and parts/override.lua (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key, KEYS[2] the key's override record (a STRING holding a spec; see
-- docs/redis-keys.md). ARGV: as slidingWindowLog.check.lua, then the policy file's spec for the key ("" for
-- none). The record, when present, wins over the file's spec. Returns the check's five
-- integers and a sixth: 1 when an override applied, else 0. "unlimited" and "deny" read and
-- write nothing but the record.

-- slidingWindowLog.check.lua, unchanged
local function check(KEYS, ARGV)
-- slidingWindowLog.check: admit `cost` units against an exact log of the trailing window,
-- or deny (the only write on a deny is the prune of expired entries).
-- KEYS[1] state key (ZSET: one member "<now>-<n>" per admitted unit, score = its admission time).
-- ARGV: now (0 = Redis clock), windowMs, limit, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local function int(x) return string.format('%.0f', x) end

-- A score equal to now - windowMs has expired, hence no '(' on the bound.
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - windowMs))
local count = redis.call('ZCARD', key)

if count + cost <= limit then
  -- ZADD in slices: Lua's unpack has a bounded stack and cost may reach the 10,000 cap.
  local score = string.format('%.17g', now)
  local prefix = int(now) .. '-'
  local args = {}
  for i = 1, cost do
    args[#args + 1] = score
    args[#args + 1] = prefix .. int(count + i)
    if #args >= 1000 then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('ZADD', key, unpack(args)) end
  redis.call('PEXPIRE', key, int(math.max(1, math.ceil(windowMs))))
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  return {1, limit, math.max(0, limit - count - cost), math.ceil(oldest + windowMs), 0}
end

local retry
if count == 0 then
  retry = windowMs
else
  local k = math.min(math.max(count + cost - limit, 1), count)
  local ref = tonumber(redis.call('ZRANGE', key, k - 1, k - 1, 'WITHSCORES')[2])
  retry = math.max(1, math.ceil(ref + windowMs - now))
end
local oldest = now
if count > 0 then oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) end
return {0, limit, math.max(0, limit - count), math.ceil(oldest + windowMs), retry}
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

local o = {names = {windowMs = 2, limit = 3}, real = {}, caps = {limit = 10000}, list = "windowMs, limit", limitAt = 3, windowAt = 2, refillAt = 0}
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
