-- all.reset: forget a key's state, whatever its strategy: the limiter is full again.
-- KEYS[1] state key. ARGV: now (unused: kept so that every script's ARGV starts with it).
-- Returns 1 when the key existed, else 0.
return redis.call('DEL', KEYS[1])
