-- federated.reconcile: return the unspent units of a finished window into the current one,
-- capped at the full budget, once per finished window (two-tier.md §6.1).
-- KEYS[1] coordinator HASH (see federated.lease).
-- ARGV: now (0 = Redis clock), leftover, windowStart (of the finished window), windowMs,
-- perKeyBudget. Reply 1 when credited, 0 when that window was already reconciled.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local leftover = tonumber(ARGV[2])
local marker = 'rec_' .. string.format('%.0f', tonumber(ARGV[3]))
local windowMs = tonumber(ARGV[4])
local perKeyBudget = tonumber(ARGV[5])

if redis.call('HEXISTS', key, marker) == 1 then
  return 0
end

local expiresAt = math.floor(now / windowMs) * windowMs + windowMs
local state = redis.call('HMGET', key, 'budget', 'expiresAt')
local budget = tonumber(state[1])
if budget == nil or tonumber(state[2]) ~= expiresAt then
  redis.call('DEL', key)
  budget = perKeyBudget
end

budget = math.min(perKeyBudget, budget + leftover)
redis.call('HSET', key, 'budget', string.format('%.0f', budget), 'expiresAt', string.format('%.0f', expiresAt), marker, '1')
redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, expiresAt - now)))
return 1
