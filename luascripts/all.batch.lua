-- all.batch: several checks in one atomic run, each computed by its strategy's check script.
-- Generated from the *.check.lua files (go test ./luascripts -run TestBatchIsComposed -update);
-- do not edit.
-- KEYS: the items' state keys, in order (on a Cluster, all in one slot).
-- ARGV: now (0 = Redis clock), mode ("each" or "all"), the number of specs, the specs (each:
-- strategy, flags (1: a shadow's, its denials never undo the run; 2: honours overrides; 3:
-- both), argc, then the check's ARGV after now, then for flags 2 and 3 the policy file's
-- override spec, "" for none), then one spec number per item. An item takes one key, its
-- state key, or two for a spec honouring overrides: the state key, then its override record
-- (as <strategy>.override reads it).
-- Returns five integers per item, as its check script returns them; when any spec honours
-- overrides, then one more integer per item: 1 when an override applied to it, else 0.
-- When an item fails, and in mode "all" when one is denied (not a shadow's), every key the
-- run wrote is restored.
local real = redis
local now = tonumber(ARGV[1])
if now == 0 then
  local t = real.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Commands that cannot change a key; any other command saves its key first.
local function reads(cmd)
  return cmd == 'HMGET' or cmd == 'GET' or cmd == 'ZRANGE' or cmd == 'ZCARD' or cmd == 'TIME' or
    cmd == 'HGET' or cmd == 'HGETALL' or cmd == 'PTTL' or cmd == 'EXISTS' or cmd == 'TYPE' or
    cmd == 'ZCOUNT' or cmd == 'ZRANGEBYSCORE'
end

-- Each item saves its key before its first write, in saved as (key, DUMP, PTTL); restoring
-- the saved values newest first brings a key checked twice back to its value before the run.
local saved, nsaved, itemSaved = {}, 0, false
local redis = {call = function(cmd, key, ...)
  if not itemSaved and not reads(cmd) then
    itemSaved = true
    saved[nsaved + 1], saved[nsaved + 2], saved[nsaved + 3] = key, real.call('DUMP', key), real.call('PTTL', key)
    nsaved = nsaved + 3
  end
  return real.call(cmd, key, ...)
end}

local function restore()
  for i = nsaved - 2, 1, -3 do
    if saved[i + 1] then
      real.call('RESTORE', saved[i], math.max(0, saved[i + 2]), saved[i + 1], 'REPLACE')
    else
      real.call('DEL', saved[i])
    end
  end
end
-- gcra.check.lua, unchanged
local function check_gcra(KEYS, ARGV)
-- gcra.check: admit `cost` cells of a GCRA limiter or deny without writing.
-- KEYS[1] state key (STRING: the theoretical arrival time, '%.17g').
-- ARGV: now (0 = Redis clock), periodMs, limit, burst, cost.
-- Formulas and operation order follow lua-contract.md literally: float results depend on them.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local periodMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])

local T = periodMs / limit
local tau = T * burst
local inc = T * cost

local tat = now
local stored = redis.call('GET', key)
if stored then tat = tonumber(stored) end
tat = math.max(tat, now)

local newTat = tat + inc
local allowAt = newTat - tau
if now < allowAt then
  return {0, burst, math.max(0, math.floor((tau - (tat - now)) / T)), math.ceil(tat), math.ceil(allowAt - now)}
end

redis.call('SET', key, string.format('%.17g', newTat), 'PX', string.format('%.0f', math.max(1, math.ceil(newTat - now))))
return {1, burst, math.max(0, math.floor((tau - (newTat - now)) / T)), math.ceil(newTat), 0}
end

-- tokenBucket.check.lua, unchanged
local function check_tokenBucket(KEYS, ARGV)
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

-- fixedWindow.check.lua, unchanged
local function check_fixedWindow(KEYS, ARGV)
-- fixedWindow.check: count `cost` units in the current epoch-aligned window or deny without writing.
-- KEYS[1] state key (HASH: s = window start, c = count, plain integers).
-- ARGV: now (0 = Redis clock), limit, windowMs, cost.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local ws = math.floor(now / windowMs) * windowMs
local resetAt = ws + windowMs
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and tonumber(state[1]) == ws then count = tonumber(state[2]) or 0 end

if count + cost <= limit then
  redis.call('HSET', key, 's', string.format('%.0f', ws), 'c', string.format('%.0f', count + cost))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(resetAt - now))))
  return {1, limit, limit - (count + cost), resetAt, 0}
end
return {0, limit, math.max(0, limit - count), resetAt, math.ceil(resetAt - now)}
end

-- slidingWindow.check.lua, unchanged
local function check_slidingWindow(KEYS, ARGV)
-- slidingWindow.check: admit `cost` units against a bucketed estimate of the trailing window,
-- or deny without writing.
-- KEYS[1] state key (HASH used as a ring of buckets+1 slots: field "idx mod (buckets+1)",
-- value "idx:count", both plain integers; a slot holding another idx counts 0).
-- ARGV: now (0 = Redis clock), windowMs, limit, cost, buckets.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local buckets = tonumber(ARGV[5])

local function int(x) return string.format('%.0f', x) end

-- The count stored in a slot, if the slot still belongs to bucket idx.
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

-- Slots for buckets c-S .. c, in that order: vals[1] is the oldest, vals[slots] the current.
local fields = {}
for j = c - buckets, c do fields[#fields + 1] = int(j % slots) end
local vals = redis.call('HMGET', key, unpack(fields))

local oldest = countOf(vals[1], c - buckets)
local full = 0
for i = 2, slots do full = full + countOf(vals[i], c - buckets + i - 1) end
local est = full + oldest * weight
local proj = est + cost
local resetAt = math.ceil((c + 1) * w + windowMs)

if proj <= limit then
  local current = countOf(vals[slots], c)
  redis.call('HSET', key, int(c % slots), int(c) .. ':' .. int(current + cost))
  redis.call('PEXPIRE', key, int(math.ceil(windowMs + w)))
  return {1, limit, math.max(0, math.floor(limit - proj)), resetAt, 0}
end

local D = proj - limit
local retry
if oldest > 0 and D <= oldest * weight then
  retry = math.ceil(D * w / oldest)
else
  retry = math.ceil((c + 1) * w - now)
end
retry = math.max(1, retry)
return {0, limit, math.max(0, math.floor(limit - est)), resetAt, retry}
end

-- slidingWindowLog.check.lua, unchanged
local function check_slidingWindowLog(KEYS, ARGV)
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

-- quota.check.lua, unchanged
local function check_quota(KEYS, ARGV)
-- quota.check: count `cost` units in the current billing period or deny without writing.
-- Generated from parts/quota.check.lua and parts/quota.period.lua (go test ./luascripts -run
-- TestComposed -update); edit those.
-- KEYS[1] state key (HASH: s = period start, c = units admitted in it, plain integers; the
-- layout of upstream's quota, so every client on one key shares one budget).
-- ARGV: now (0 = Redis clock), limit, cost, mode (1 month, 2 week, 3 day, 4 fixed), periodMs,
-- anchor, offsetMs, weekStartsOn.
-- quota period: begin (parts/quota.period.lua, composed into quota.check, quota.peek and
-- quota.forecast); it maps an instant to its period [start, reset) as quota.md section 2 says.
local DAY = 86400000

-- Floor division and the floored remainder. Both operands are integers below 2^53, where a
-- double quotient floors to the exact integer quotient.
local function fdiv(a, b) return math.floor(a / b) end
local function fmod(a, b) return a - fdiv(a, b) * b end

-- Days since 1970-01-01 of the proleptic Gregorian date y-m-d (Hinnant's days_from_civil),
-- counting years from 1 March so that the leap day closes the year. With floor division the
-- era needs no adjustment for negative years.
local function daysFromCivil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = fdiv(y, 400)
  local yoe = y - 400 * era
  local mi = m - 3
  if m <= 2 then mi = m + 9 end
  local doy = fdiv(153 * mi + 2, 5) + d - 1
  local doe = 365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100) + doy
  return 146097 * era + doe - 719468
end

-- The civil year and month holding day z (Hinnant's civil_from_days, without the day).
local function civilFromDays(z)
  z = z + 719468
  local era = fdiv(z, 146097)
  local doe = z - 146097 * era
  local yoe = fdiv(doe - fdiv(doe, 1460) + fdiv(doe, 36524) - fdiv(doe, 146096), 365)
  local y = yoe + 400 * era
  local doy = doe - (365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100))
  local mp = fdiv(5 * doy + 2, 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  return y, m
end

-- The period holding now: mode 4 is a fixed window of periodMs from anchor; 1, 2 and 3 are
-- the calendar month, week and day at the fixed offset offsetMs (any other mode reads as a
-- month, as upstream's script does).
local function periodOf(now, mode, periodMs, anchor, offsetMs, weekStartsOn)
  if mode == 4 then
    local start = anchor + fdiv(now - anchor, periodMs) * periodMs
    return start, start + periodMs
  end
  local day = fdiv(now + offsetMs, DAY)
  local first, after
  if mode == 3 then
    first, after = day, day + 1
  elseif mode == 2 then
    local dow = fmod(day + 4, 7) -- 0 = Sunday: 1970-01-01 was a Thursday
    first = day - fmod(dow - weekStartsOn, 7)
    after = first + 7
  else
    local y, m = civilFromDays(day)
    first = daysFromCivil(y, m, 1)
    if m == 12 then y, m = y + 1, 1 else m = m + 1 end
    after = daysFromCivil(y, m, 1)
  end
  return first * DAY - offsetMs, after * DAY - offsetMs
end
-- quota period: end

local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start, reset = periodOf(now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]))

-- A count belongs to the period its start names; an older period's count, a missing key or a
-- half-written hash all read as 0.
local state = redis.call('HMGET', key, 's', 'c')
local count = 0
if state[1] and state[2] and tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end

if count + cost <= limit then
  redis.call('HSET', key, 's', string.format('%.0f', start), 'c', string.format('%.0f', count + cost))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, math.ceil(reset - now))))
  return {1, limit, limit - (count + cost), reset, 0}
end
return {0, limit, math.max(0, limit - count), reset, math.ceil(reset - now)}
end

local function checkFor(strategy)
  if strategy == "gcra" then return check_gcra end
  if strategy == "tokenBucket" then return check_tokenBucket end
  if strategy == "fixedWindow" then return check_fixedWindow end
  if strategy == "slidingWindow" then return check_slidingWindow end
  if strategy == "slidingWindowLog" then return check_slidingWindowLog end
  if strategy == "quota" then return check_quota end
end

-- parts/override.lua
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

local function overrideFor(strategy)
  if strategy == "gcra" then return {names = {periodMs = 2, limit = 3, burst = 4}, real = {}, caps = {}, list = "periodMs, limit, burst", limitAt = 4, windowAt = 2, refillAt = 0} end
  if strategy == "tokenBucket" then return {names = {capacity = 2, refillPerSec = 3}, real = {refillPerSec = true}, caps = {}, list = "capacity, refillPerSec", limitAt = 2, windowAt = 0, refillAt = 3} end
  if strategy == "fixedWindow" then return {names = {limit = 2, windowMs = 3}, real = {}, caps = {}, list = "limit, windowMs", limitAt = 2, windowAt = 3, refillAt = 0} end
  if strategy == "slidingWindow" then return {names = {windowMs = 2, limit = 3, buckets = 5}, real = {}, caps = {buckets = 1000}, list = "windowMs, limit, buckets", limitAt = 3, windowAt = 2, refillAt = 0} end
  if strategy == "slidingWindowLog" then return {names = {windowMs = 2, limit = 3}, real = {}, caps = {limit = 10000}, list = "windowMs, limit", limitAt = 3, windowAt = 2, refillAt = 0} end
end

local mode = ARGV[2]
-- specs holds (check function, ARGV, shadow, override table or false, file spec) per spec.
local specs, nspecs, pos, anyOverride = {}, tonumber(ARGV[3]), 4, false
for s = 1, nspecs do
  local fn = checkFor(ARGV[pos])
  if fn == nil then
    return real.error_reply('ERR all.batch: no check script for strategy ' .. tostring(ARGV[pos]))
  end
  local flags = ARGV[pos + 1]
  local o = false
  if flags == '2' or flags == '3' then
    o = overrideFor(ARGV[pos])
    if o == nil then
      return real.error_reply('ERR all.batch: strategy ' .. tostring(ARGV[pos]) .. ' takes no overrides')
    end
    anyOverride = true
  end
  local argv = {now}
  local argc = tonumber(ARGV[pos + 2])
  for j = 1, argc do argv[j + 1] = ARGV[pos + 2 + j] end
  local b = 5 * s
  specs[b - 4], specs[b - 3], specs[b - 2], specs[b - 1] = fn, argv, flags == '1' or flags == '3', o
  pos = pos + 3 + argc
  if o then
    specs[b] = ARGV[pos]
    pos = pos + 1
  end
end
local nitems = #KEYS
if anyOverride then nitems = #ARGV - pos + 1 end
local nkeys = 0
for i = 1, nitems do
  local s = tonumber(ARGV[pos + i - 1])
  if s == nil or s < 1 or s > nspecs or s % 1 ~= 0 then
    return real.error_reply('ERR all.batch: ' .. (anyOverride and 'item ' or 'key ') .. i .. ' names no spec')
  end
  nkeys = nkeys + 1
  if specs[5 * s - 1] then nkeys = nkeys + 1 end
end
if nkeys ~= #KEYS then
  return real.error_reply('ERR all.batch: the items take ' .. nkeys .. ' keys, ' .. #KEYS .. ' given')
end

local key = {}

-- overridden runs an item of a spec honouring overrides: its record (KEYS k + 1), else the
-- file's spec, decides how, as <strategy>.override does.
local function overridden(s, k)
  local b = 5 * s
  local spec, from = specs[b], 'policy file spec'
  local record = real.pcall('GET', KEYS[k + 1])
  if type(record) == 'table' and record.err then
    error({err = 'ERR override record ' .. KEYS[k + 1] .. ': ' .. tostring(record.err)})
  end
  if record then spec, from = record, 'override record ' .. KEYS[k + 1] end
  if spec == '' and not record then
    local r = specs[b - 4](key, specs[b - 3])
    r[6] = 0
    return r
  end
  local argv = {}
  for j, v in ipairs(specs[b - 3]) do argv[j] = v end
  local kind, problem = applyOverride(specs[b - 1], spec, argv)
  if not kind then error({err = 'ERR ' .. from .. ': malformed: ' .. problem}) end
  if kind == 'fields' then
    local r = specs[b - 4](key, argv)
    r[6] = 1
    return r
  end
  return overrideDecision(specs[b - 1], kind, argv, now)
end

local out, flags, denied = {}, {}, false
local ok, err = pcall(function()
  local k = 1
  for i = 1, nitems do
    local s = tonumber(ARGV[pos + i - 1])
    itemSaved, key[1] = false, KEYS[k]
    local r
    if specs[5 * s - 1] then
      r = overridden(s, k)
      k = k + 2
    else
      r = specs[5 * s - 4](key, specs[5 * s - 3])
      k = k + 1
    end
    local base = 5 * (i - 1)
    for j = 1, 5 do out[base + j] = r[j] end
    flags[i] = r[6] or 0
    if r[1] == 0 and not specs[5 * s - 2] then denied = true end
  end
end)
if not ok then
  restore()
  if type(err) == 'table' and err.err then err = err.err end
  return real.error_reply(tostring(err))
end
if denied and mode == 'all' then restore() end
if anyOverride then
  for i = 1, nitems do out[5 * nitems + i] = flags[i] end
end
return out
