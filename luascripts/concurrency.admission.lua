-- concurrency.admission: Admit, Release and Heartbeat of one admission guard (admission.md §2-§4, §9).
-- One script for the three operations, so that the adaptive estimate and the reclaim of expired
-- leases have exactly one source.
-- KEYS[1] the guard (HASH):
--   e  the estimate ('%.17g'); the ceiling is floor(e)
--   n  leases held (integer)
--   x  a lower bound of the earliest lease expiry, -1 when none is held (reclaim scans only
--      once now reaches it)
--   r  the last rttWindow RTT samples, oldest first, space-separated integers (adaptive
--      guards only)
--   t  the last RTT (integer; retryAfterMs of a refusal is max(1, t))
--   L<id>  one lease: "<expiresAt> <admittedAt> <atAcquire>" (integers)
-- ARGV: now (0 = Redis clock), op (admit | release | heartbeat), leaseTtlMs, minLimit, maxLimit,
--   initialLimit, algorithm (gradient2 | aimd), rttWindow, smoothing, tolerance, backoffRatio,
--   then per op: admit: leaseId; release: leaseId, dropped (1|0); heartbeat: leaseId...
-- Replies: admit {allowed, limit, remaining, resetAt, retryAfterMs, leaseExpiresAt}, or {-1}
--   when leaseId is already taken (draw another); release {1 released | 0 unknown};
--   heartbeat {nextDeadline, then 1 (renewed) or 0 (reclaimed) per id}.
-- Any run first or last releases, as dropped, every lease whose expiresAt <= now.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local op = ARGV[2]
local ttl = tonumber(ARGV[3])
local minLimit = tonumber(ARGV[4])
local maxLimit = tonumber(ARGV[5])
local initialLimit = tonumber(ARGV[6])
local algorithm = ARGV[7]
local window = math.floor(tonumber(ARGV[8]))
local smoothing = tonumber(ARGV[9])
local tolerance = tonumber(ARGV[10])
local backoffRatio = tonumber(ARGV[11])
-- State outlives the last write by the TTL and a margin, so no lease outlives its guard: a day
-- for an adaptive estimate (an idle guard then starts again from initialLimit), a minute for
-- a pinned ceiling, whose state is only its leases and latencies (a guard per key of
-- `scope: key`, e.g. per address, must not stay around for long).
local retention = ttl + 86400000
if minLimit == maxLimit then retention = ttl + 60000 end

local st = redis.call('HMGET', key, 'e', 'n', 'x', 'r', 't')
local estimate = tonumber(st[1]) or initialLimit
estimate = math.min(maxLimit, math.max(minLimit, estimate))
local inflight = tonumber(st[2]) or 0
local nextExpiry = tonumber(st[3]) or -1
-- The samples are read only by a release of an adaptive guard: parsing them is most of a
-- run's work, and a pinned ceiling cannot move whatever they say.
local rawSamples = st[4]
local samples = nil
local lastRtt = tonumber(st[5]) or 0
local dirty = false

local function parseLease(v)
  local a, b, c = string.match(v, '^(%d+) (%d+) (%d+)$')
  return tonumber(a), tonumber(b), tonumber(c)
end

local function formatLease(expiresAt, admittedAt, atAcquire)
  return string.format('%.0f %.0f %.0f', expiresAt, admittedAt, atAcquire)
end

-- Returns one held slot and applies the algorithm (admission.md §2, in its order).
local function releaseSlot(admittedAt, atAcquire, dropped)
  inflight = math.max(0, inflight - 1)
  local rtt = math.max(0, now - admittedAt)
  lastRtt = rtt
  dirty = true
  if minLimit == maxLimit then return end
  if not samples then
    samples = {}
    if rawSamples then
      for v in string.gmatch(rawSamples, '%S+') do samples[#samples + 1] = tonumber(v) end
    end
  end
  samples[#samples + 1] = rtt
  while #samples > window do table.remove(samples, 1) end
  local noload = samples[1]
  for i = 2, #samples do noload = math.min(noload, samples[i]) end
  if algorithm == 'gradient2' then
    local g
    if dropped then
      g = 0.5
    elseif rtt <= 0 then
      g = 1
    else
      g = math.min(1, math.max(0.5, (tolerance * noload) / rtt))
    end
    if not dropped and atAcquire * 2 < estimate then return end
    local n = estimate * g + math.sqrt(estimate)
    n = estimate * (1 - smoothing) + n * smoothing
    estimate = math.min(maxLimit, math.max(minLimit, n))
  else
    if dropped or rtt > noload * tolerance then
      estimate = math.max(minLimit, math.floor(estimate * backoffRatio))
    elseif atAcquire * 2 >= estimate then
      estimate = math.min(maxLimit, estimate + 1)
    end
  end
end

-- Releases, as dropped, every lease whose deadline has passed, earliest first, then by admit
-- time and count at admit: the order is the same in Redis and the embedded engine whatever
-- their hash order, and leases still tied have the same effect in either order.
local function reclaim()
  if nextExpiry < 0 or now < nextExpiry then return end
  local all = redis.call('HGETALL', key)
  local expired = {}
  local soonest = -1
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 1) == 'L' then
      local expiresAt, admittedAt, atAcquire = parseLease(all[i + 1])
      if expiresAt <= now then
        expired[#expired + 1] = {f, expiresAt, admittedAt, atAcquire}
      elseif soonest < 0 or expiresAt < soonest then
        soonest = expiresAt
      end
    end
  end
  table.sort(expired, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    if a[3] ~= b[3] then return a[3] < b[3] end
    if a[4] ~= b[4] then return a[4] < b[4] end
    return a[1] < b[1]
  end)
  for _, l in ipairs(expired) do
    redis.call('HDEL', key, l[1])
    releaseSlot(l[3], l[4], true)
  end
  nextExpiry = soonest
  dirty = true
end

local function save()
  if inflight == 0 then nextExpiry = -1 end
  redis.call('HSET', key, 'e', string.format('%.17g', estimate), 'n', string.format('%.0f', inflight),
    'x', string.format('%.0f', nextExpiry), 't', string.format('%.0f', lastRtt))
  if samples then redis.call('HSET', key, 'r', table.concat(samples, ' ')) end
  redis.call('PEXPIRE', key, string.format('%.0f', retention))
end

if op == 'admit' then
  local field = 'L' .. ARGV[12]
  if redis.call('HGET', key, field) then return {-1} end
  reclaim()
  local limit = math.floor(estimate)
  if inflight >= limit then
    if dirty then save() end
    return {0, limit, 0, now, math.max(1, lastRtt), 0}
  end
  inflight = inflight + 1
  local expiresAt = now + ttl
  redis.call('HSET', key, field, formatLease(expiresAt, now, inflight))
  if nextExpiry < 0 or expiresAt < nextExpiry then nextExpiry = expiresAt end
  save()
  return {1, limit, math.max(0, limit - inflight), now, 0, expiresAt}
elseif op == 'release' then
  local field = 'L' .. ARGV[12]
  local v = redis.call('HGET', key, field)
  local released = 0
  if v then
    local _, admittedAt, atAcquire = parseLease(v)
    redis.call('HDEL', key, field)
    releaseSlot(admittedAt, atAcquire, ARGV[13] == '1')
    released = 1
  end
  reclaim()
  if dirty then save() end
  return {released}
elseif op == 'heartbeat' then
  local deadline = now + ttl
  local out = {deadline}
  for i = 12, #ARGV do
    local field = 'L' .. ARGV[i]
    local v = redis.call('HGET', key, field)
    if v then
      local _, admittedAt, atAcquire = parseLease(v)
      redis.call('HSET', key, field, formatLease(deadline, admittedAt, atAcquire))
      dirty = true
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  reclaim()
  if dirty then save() end
  return out
end
return redis.error_reply('ERR concurrency.admission: unknown op ' .. tostring(op))
