-- federated.lease: grant up to `tokens` units of a federated budget's current window
-- (two-tier.md §6.1). The window is epoch-aligned: [floor(now/windowMs)*windowMs, +windowMs).
-- KEYS[1] coordinator HASH (budget = units still grantable, expiresAt = the window's end;
-- rec_<windowStart> = 1 once that window's leftover came back). Plain decimal integers.
-- ARGV: now (0 = Redis clock), tokens, windowMs, perKeyBudget. Reply {granted, expiresAt}.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local tokens = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local perKeyBudget = tonumber(ARGV[4])

local expiresAt = math.floor(now / windowMs) * windowMs + windowMs
local state = redis.call('HMGET', key, 'budget', 'expiresAt')
local budget = tonumber(state[1])
-- A new window: the old one's state (its rec_ markers included) goes with the DEL.
if budget == nil or tonumber(state[2]) ~= expiresAt then
  redis.call('DEL', key)
  budget = perKeyBudget
end

local granted = math.min(tokens, budget)
budget = budget - granted
-- Written even when nothing is granted, as upstream does.
redis.call('HSET', key, 'budget', string.format('%.0f', budget), 'expiresAt', string.format('%.0f', expiresAt))
redis.call('PEXPIRE', key, string.format('%.0f', math.max(1, expiresAt - now)))
return {granted, expiresAt}
