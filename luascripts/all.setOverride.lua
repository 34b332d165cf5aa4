-- all.setOverride: store or clear one key's override record (docs/redis-keys.md).
-- KEYS[1] the override record's key. ARGV: now (unused: kept so that every script's ARGV
-- starts with it), spec ("" clears the record; callers validate a spec before storing it),
-- ttlMs (0: the record never expires; an operator's setting, not decision state).
-- Returns 1 when a record was stored, or when one existed and was cleared, else 0.
local spec, ttl = ARGV[2], tonumber(ARGV[3])
if spec == '' then return redis.call('DEL', KEYS[1]) end
if ttl and ttl > 0 then
  redis.call('SET', KEYS[1], spec, 'PX', string.format('%.0f', ttl))
else
  redis.call('SET', KEYS[1], spec)
end
return 1
