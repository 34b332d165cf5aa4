-- gcra refund: move the theoretical arrival time back by cost cells, never before now (a
-- full limiter has no state: the key goes). ARGV as gcra.check's.
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local periodMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[5])

local stored = redis.call('GET', key)
if stored then
  local tat = math.max(tonumber(stored), now)
  local newTat = tat - (periodMs / limit) * cost
  if newTat <= now then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.17g', newTat), 'PX', string.format('%.0f', math.max(1, math.ceil(newTat - now))))
  end
end
return {now, ARGV[2], ARGV[3], ARGV[4]}
