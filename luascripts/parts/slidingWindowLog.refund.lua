-- slidingWindowLog refund: drop the expired entries as a check does, then the cost newest
-- entries (latest score first; among equal scores the highest unit number, so that the
-- names later checks give never meet a name still in the log). ARGV as
-- slidingWindowLog.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])

redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - windowMs))
local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local entries = {}
for i = 1, #flat, 2 do
  local member = flat[i]
  local dash = string.find(member, '-[^-]*$')
  entries[#entries + 1] = {member, tonumber(flat[i + 1]), tonumber(string.sub(member, (dash or 0) + 1)) or 0}
end
table.sort(entries, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[3] > b[3]
end)
for i = 1, math.min(cost, #entries) do
  redis.call('ZREM', key, entries[i][1])
end
return {now, ARGV[2], ARGV[3]}
