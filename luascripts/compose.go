package luascripts

import (
	"fmt"
	"strings"
)

// Roles of the scripts of our own operations (beside the strategies' check, peek, forecast
// and debit): several checks in one atomic run, giving units back, forgetting a key.
const (
	RoleBatch  = "batch"
	RoleRefund = "refund"
	RoleReset  = "reset"
	// RoleOverride: a check that honours the key's override, from Redis or from the policy
	// file (<strategy>.override, composed from the strategy's check).
	RoleOverride = "override"
	// RoleSetOverride stores or clears one key's override record (all.setOverride).
	RoleSetOverride = "setOverride"
)

// BatchName is the manifest name of the batch script.
const BatchName = "all.batch"

// composed returns every generated script's source by file name: the scripts written as a
// part with shared blocks included (parts/<file> holding "--@include <block>" lines), the
// batch script, and a refund script for each strategy with a refund part
// (parts/<strategy>.refund.lua). Each is composed from the others' composed sources, so one
// -update brings them all in line.
func composed(scripts []*Script) map[string]string {
	out := map[string]string{}
	current := make([]*Script, len(scripts))
	for i, s := range scripts {
		current[i] = s
		if s.Role == RoleRefund || s.Role == RoleBatch || s.Role == RoleOverride {
			continue
		}
		if part, err := files.ReadFile("parts/" + s.File); err == nil {
			out[s.File] = includeBlocks(string(part))
			c := *s
			c.Source = out[s.File]
			current[i] = &c
		}
	}
	out[BatchName+".lua"] = composeBatch(current)
	for _, s := range current {
		if s.Role != RolePeek {
			continue
		}
		part, err := files.ReadFile("parts/" + s.Strategy + ".refund.lua")
		if err != nil {
			continue
		}
		out[s.Strategy+".refund.lua"] = composeRefund(s, string(part))
	}
	for _, s := range current {
		if s.Role == RoleCheck && overrideInfo[s.Strategy].limit != "" {
			out[s.Strategy+".override.lua"] = composeOverride(s)
		}
	}
	return out
}

// includeBlocks replaces each line "--@include <file>" with parts/<file> (a block several
// scripts share, such as the quota period arithmetic); a missing block is a broken build.
func includeBlocks(src string) string {
	const directive = "--@include "
	var b strings.Builder
	for _, line := range strings.SplitAfter(src, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), directive)
		if !ok {
			b.WriteString(line)
			continue
		}
		block, err := files.ReadFile("parts/" + name)
		if err != nil {
			panic("luascripts: " + line + ": " + err.Error())
		}
		b.Write(block)
	}
	return b.String()
}

// composeRefund builds a refund script: the strategy's refund part gives the units back and
// returns the peek's ARGV, then its peek script, unchanged, answers (lua-contract.md: the
// decision a peek gives right after).
func composeRefund(peek *Script, part string) string {
	return fmt.Sprintf(`-- %[1]s.refund: give back units a check consumed, never beyond full, then answer as
-- %[1]s.peek does. Generated from parts/%[1]s.refund.lua and %[2]s
-- (go test ./luascripts -run TestComposed -update); do not edit.
-- KEYS[1] state key. ARGV: as the strategy's check (or debit), the amount being given back.

local function refund(KEYS, ARGV)
%[3]s
end

-- %[2]s, unchanged
local function peek(KEYS, ARGV)
%[4]s
end

return peek(KEYS, refund(KEYS, ARGV))
`, peek.Strategy, peek.File, strings.TrimRight(part, "\n"), strings.TrimRight(peek.Source, "\n"))
}

// composeBatch builds the batch script from every strategy's check script, so that a batch
// decides with the very bytes a single check runs (lua-contract.md: composed, never a
// hand-kept copy). Each check body becomes a local function of (KEYS, ARGV) whose `redis` is
// a shim that saves the key (DUMP and PTTL) before the item's first write, so that the run
// can restore every key it wrote when an item fails or, in mode "all", is denied.
func composeBatch(scripts []*Script) string {
	var b, lookup, overrides strings.Builder
	b.WriteString(batchHead)
	lookup.WriteString("\nlocal function checkFor(strategy)\n")
	overrides.WriteString("\nlocal function overrideFor(strategy)\n")
	for _, s := range scripts {
		if s.Role != RoleCheck {
			continue
		}
		fn := "check_" + s.Strategy
		fmt.Fprintf(&b, "\n-- %s, unchanged\nlocal function %s(KEYS, ARGV)\n%s\nend\n", s.File, fn, strings.TrimRight(s.Source, "\n"))
		fmt.Fprintf(&lookup, "  if strategy == %q then return %s end\n", s.Strategy, fn)
		if overrideInfo[s.Strategy].limit != "" {
			fmt.Fprintf(&overrides, "  if strategy == %q then return %s end\n", s.Strategy, overrideTable(s))
		}
	}
	lookup.WriteString("end\n")
	overrides.WriteString("end\n")
	b.WriteString(lookup.String())
	b.WriteString("\n-- parts/override.lua\n" + overridePart() + "\n")
	b.WriteString(overrides.String())
	b.WriteString(batchTail)
	return b.String()
}

// The script avoids tables keyed by strings where it can (a hash per run is what a run of
// few keys spends most on in the embedded engine).
const batchHead = `-- all.batch: several checks in one atomic run, each computed by its strategy's check script.
-- Generated from the *.check.lua files (go test ./luascripts -run TestBatchIsComposed -update);
-- do not edit.
-- KEYS: the items' state keys, in order (on a Cluster, all in one slot).
-- ARGV: now (0 = Redis clock), mode ("each" or "all"), the number of specs, the specs (each:
-- strategy, flags (1: a shadow's, its denials never undo the run; 2: honours overrides; 3:
-- both), argc, then the check's ARGV after now, then for flags 2 and 3 the policy file's
-- override spec, "" for none), then one spec number per item. An item takes one key, its
-- state key, or two for a spec honouring overrides: the state key, then its override record
-- (as <strategy>.override reads it).
-- Returns five integers per item, as its check script returns them; when any spec honours
-- overrides, then one more integer per item: 1 when an override applied to it, else 0.
-- When an item fails, and in mode "all" when one is denied (not a shadow's), every key the
-- run wrote is restored.
local real = redis
local now = tonumber(ARGV[1])
if now == 0 then
  local t = real.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Commands that cannot change a key; any other command saves its key first.
local function reads(cmd)
  return cmd == 'HMGET' or cmd == 'GET' or cmd == 'ZRANGE' or cmd == 'ZCARD' or cmd == 'TIME' or
    cmd == 'HGET' or cmd == 'HGETALL' or cmd == 'PTTL' or cmd == 'EXISTS' or cmd == 'TYPE' or
    cmd == 'ZCOUNT' or cmd == 'ZRANGEBYSCORE'
end

-- Each item saves its key before its first write, in saved as (key, DUMP, PTTL); restoring
-- the saved values newest first brings a key checked twice back to its value before the run.
local saved, nsaved, itemSaved = {}, 0, false
local redis = {call = function(cmd, key, ...)
  if not itemSaved and not reads(cmd) then
    itemSaved = true
    saved[nsaved + 1], saved[nsaved + 2], saved[nsaved + 3] = key, real.call('DUMP', key), real.call('PTTL', key)
    nsaved = nsaved + 3
  end
  return real.call(cmd, key, ...)
end}

local function restore()
  for i = nsaved - 2, 1, -3 do
    if saved[i + 1] then
      real.call('RESTORE', saved[i], math.max(0, saved[i + 2]), saved[i + 1], 'REPLACE')
    else
      real.call('DEL', saved[i])
    end
  end
end`

const batchTail = `
local mode = ARGV[2]
-- specs holds (check function, ARGV, shadow, override table or false, file spec) per spec.
local specs, nspecs, pos, anyOverride = {}, tonumber(ARGV[3]), 4, false
for s = 1, nspecs do
  local fn = checkFor(ARGV[pos])
  if fn == nil then
    return real.error_reply('ERR all.batch: no check script for strategy ' .. tostring(ARGV[pos]))
  end
  local flags = ARGV[pos + 1]
  local o = false
  if flags == '2' or flags == '3' then
    o = overrideFor(ARGV[pos])
    if o == nil then
      return real.error_reply('ERR all.batch: strategy ' .. tostring(ARGV[pos]) .. ' takes no overrides')
    end
    anyOverride = true
  end
  local argv = {now}
  local argc = tonumber(ARGV[pos + 2])
  for j = 1, argc do argv[j + 1] = ARGV[pos + 2 + j] end
  local b = 5 * s
  specs[b - 4], specs[b - 3], specs[b - 2], specs[b - 1] = fn, argv, flags == '1' or flags == '3', o
  pos = pos + 3 + argc
  if o then
    specs[b] = ARGV[pos]
    pos = pos + 1
  end
end
local nitems = #KEYS
if anyOverride then nitems = #ARGV - pos + 1 end
local nkeys = 0
for i = 1, nitems do
  local s = tonumber(ARGV[pos + i - 1])
  if s == nil or s < 1 or s > nspecs or s % 1 ~= 0 then
    return real.error_reply('ERR all.batch: ' .. (anyOverride and 'item ' or 'key ') .. i .. ' names no spec')
  end
  nkeys = nkeys + 1
  if specs[5 * s - 1] then nkeys = nkeys + 1 end
end
if nkeys ~= #KEYS then
  return real.error_reply('ERR all.batch: the items take ' .. nkeys .. ' keys, ' .. #KEYS .. ' given')
end

local key = {}

-- overridden runs an item of a spec honouring overrides: its record (KEYS k + 1), else the
-- file's spec, decides how, as <strategy>.override does.
local function overridden(s, k)
  local b = 5 * s
  local spec, from = specs[b], 'policy file spec'
  local record = real.pcall('GET', KEYS[k + 1])
  if type(record) == 'table' and record.err then
    error({err = 'ERR override record ' .. KEYS[k + 1] .. ': ' .. tostring(record.err)})
  end
  if record then spec, from = record, 'override record ' .. KEYS[k + 1] end
  if spec == '' and not record then
    local r = specs[b - 4](key, specs[b - 3])
    r[6] = 0
    return r
  end
  local argv = {}
  for j, v in ipairs(specs[b - 3]) do argv[j] = v end
  local kind, problem = applyOverride(specs[b - 1], spec, argv)
  if not kind then error({err = 'ERR ' .. from .. ': malformed: ' .. problem}) end
  if kind == 'fields' then
    local r = specs[b - 4](key, argv)
    r[6] = 1
    return r
  end
  return overrideDecision(specs[b - 1], kind, argv, now)
end

local out, flags, denied = {}, {}, false
local ok, err = pcall(function()
  local k = 1
  for i = 1, nitems do
    local s = tonumber(ARGV[pos + i - 1])
    itemSaved, key[1] = false, KEYS[k]
    local r
    if specs[5 * s - 1] then
      r = overridden(s, k)
      k = k + 2
    else
      r = specs[5 * s - 4](key, specs[5 * s - 3])
      k = k + 1
    end
    local base = 5 * (i - 1)
    for j = 1, 5 do out[base + j] = r[j] end
    flags[i] = r[6] or 0
    if r[1] == 0 and not specs[5 * s - 2] then denied = true end
  end
end)
if not ok then
  restore()
  if type(err) == 'table' and err.err then err = err.err end
  return real.error_reply(tostring(err))
end
if denied and mode == 'all' then restore() end
if anyOverride then
  for i = 1, nitems do out[5 * nitems + i] = flags[i] end
end
return out
`
