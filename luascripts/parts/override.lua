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
