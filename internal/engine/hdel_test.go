package engine_test

import "testing"

// HDEL, which the admission lease script uses, answers as Redis does: counts, a missing
// field or key, the order of the fields left, an emptied hash deleted, WRONGTYPE, arity.
func TestEngineHDelMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	p.same(`
local out = {}
local function add(r)
  if type(r) ~= 'table' then out[#out + 1] = r return end
  local parts = {}
  for i, v in ipairs(r) do parts[i] = tostring(v) end
  out[#out + 1] = r.err or r.ok or table.concat(parts, ',')
end
add(redis.call('HDEL', KEYS[1], 'a'))
for i = 1, 20 do redis.call('HSET', KEYS[1], 'f' .. i, i) end
add(redis.call('HDEL', KEYS[1], 'f3', 'f3', 'nope', 'f7'))
add(redis.call('HGETALL', KEYS[1]))
add(redis.call('HGET', KEYS[1], 'f20'))
for i = 1, 20 do redis.call('HDEL', KEYS[1], 'f' .. i) end
add(redis.call('EXISTS', KEYS[1]))
redis.call('HSET', KEYS[1], 'a', '1', 'b', '2', 'c', '3')
add(redis.call('HDEL', KEYS[1], 'b'))
add(redis.call('HGETALL', KEYS[1]))
add(redis.pcall('HDEL', KEYS[1]))
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[1], 'v')
add(redis.pcall('HDEL', KEYS[1], 'a'))
redis.call('DEL', KEYS[1])
return out`, []string{"hdel:key"})
}
