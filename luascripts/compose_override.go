package luascripts

import (
	"fmt"
	"slices"
	"strings"
)

// OverrideSuffix ends the name of a strategy's override script: "<strategy>.override".
const OverrideSuffix = "." + RoleOverride

// SetOverrideName is the manifest name of the script that stores or clears an override.
const SetOverrideName = "all." + RoleSetOverride

// overrideInfo says, per rate strategy that takes overrides, which check ARGV is the limit a
// decision reports and which is its window (none for tokenBucket: its window is the time to
// fill up, capacity / refillPerSec), which ARGV take fractions, and the caps a policy file
// enforces (policies.md), so that a record written into Redis by hand obeys them too.
var overrideInfo = map[string]struct {
	limit, window string
	real          []string
	caps          map[string]int64
}{
	"gcra":             {limit: "burst", window: "periodMs"},
	"tokenBucket":      {limit: "capacity", real: []string{"refillPerSec"}},
	"fixedWindow":      {limit: "limit", window: "windowMs"},
	"slidingWindow":    {limit: "limit", window: "windowMs", caps: map[string]int64{"buckets": 1000}},
	"slidingWindowLog": {limit: "limit", window: "windowMs", caps: map[string]int64{"limit": 10000}},
}

// OverrideFields lists the check ARGV an override of strategy may replace, in manifest order
// (nil when the strategy takes no overrides).
func OverrideFields(strategy string) []string {
	if overrideInfo[strategy].limit == "" {
		return nil
	}
	check, ok := Lookup(strategy, RoleCheck)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range check.Argv {
		if n != "now" && n != "cost" {
			out = append(out, n)
		}
	}
	return out
}

// overrideTable renders the Lua table that parts/override.lua reads for a check script:
// its ARGV names with their indexes (now and cost are not overridable), and so on.
func overrideTable(check *Script) string {
	info := overrideInfo[check.Strategy]
	var names, real, caps []string
	at := map[string]int{}
	for i, n := range check.Argv {
		at[n] = i + 1
		if n == "now" || n == "cost" {
			continue
		}
		names = append(names, fmt.Sprintf("%s = %d", n, i+1))
		if slices.Contains(info.real, n) {
			real = append(real, n+" = true")
		}
		if c, ok := info.caps[n]; ok {
			caps = append(caps, fmt.Sprintf("%s = %d", n, c))
		}
	}
	return fmt.Sprintf("{names = {%s}, real = {%s}, caps = {%s}, list = %q, limitAt = %d, windowAt = %d, refillAt = %d}",
		strings.Join(names, ", "), strings.Join(real, ", "), strings.Join(caps, ", "),
		strings.Join(OverrideFields(check.Strategy), ", "), at[info.limit], at[info.window], at["refillPerSec"])
}

func overridePart() string {
	part, err := files.ReadFile("parts/override.lua")
	if err != nil {
		panic("luascripts: parts/override.lua: " + err.Error())
	}
	return strings.TrimRight(string(part), "\n")
}

// composeOverride builds <strategy>.override: the strategy's check, unchanged, run with the
// fields of the key's override, or the decision of an unlimited or deny override.
func composeOverride(check *Script) string {
	return fmt.Sprintf(`-- %[1]s.override: a %[1]s check that honours the key's override. Generated from
-- %[2]s and parts/override.lua (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key, KEYS[2] the key's override record (a STRING holding a spec; see
-- docs/redis-keys.md). ARGV: as %[2]s, then the policy file's spec for the key ("" for
-- none). The record, when present, wins over the file's spec. Returns the check's five
-- integers and a sixth: 1 when an override applied, else 0. "unlimited" and "deny" read and
-- write nothing but the record.

-- %[2]s, unchanged
local function check(KEYS, ARGV)
%[3]s
end

%[4]s

local o = %[5]s
local argv, n = {}, #ARGV - 1
for i = 1, n do argv[i] = ARGV[i] end
local spec, from = ARGV[n + 1], 'policy file spec'
local record = redis.pcall('GET', KEYS[2])
if type(record) == 'table' and record.err then
  return redis.error_reply('ERR override record ' .. KEYS[2] .. ': ' .. tostring(record.err))
end
if record then spec, from = record, 'override record ' .. KEYS[2] end
if spec == '' and not record then
  local r = check({KEYS[1]}, argv)
  r[6] = 0
  return r
end
local kind, problem = applyOverride(o, spec, argv)
if not kind then
  return redis.error_reply('ERR ' .. from .. ': malformed: ' .. problem)
end
if kind == 'fields' then
  local r = check({KEYS[1]}, argv)
  r[6] = 1
  return r
end
local now = tonumber(argv[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return overrideDecision(o, kind, argv, now)
`, check.Strategy, check.File, strings.TrimRight(check.Source, "\n"), overridePart(), overrideTable(check))
}
