package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// The embedded engine must run a script exactly as Redis 7's Lua 5.1 runs it. These tests
// run the same snippets in the test Redis (EVAL) and in the engine, and compare the replies:
// number formatting (string.format, tostring, concatenation, redis.call arguments, sorted-set
// scores), number parsing (tonumber, scores, ranges), the % operator, math, the string
// functions the scripts use, and the conversion of replies both ways.
//
// Never send Redis 7.0 error() with a table lacking an err field: it crashes the server.

// evalPair runs scripts in Redis and in an engine.
type evalPair struct {
	t   *testing.T
	rdb *redis.Client
	eng *testEngine
	ns  string
}

func newEvalPair(t *testing.T) *evalPair {
	t.Helper()
	opts, err := redis.ParseURL(testenv.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.Protocol = 2 // what RedisBackend speaks
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(c).Err(); err != nil {
		t.Fatalf("test redis: %v", err)
	}
	p := &evalPair{t: t, rdb: rdb, eng: openEngine(t, "limiters:\n  p: { strategy: gcra, limit: 1, period: 1s }\n", engine.Options{}),
		ns: testenv.Namespace(t)}
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(ctx, p.ns+":*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return p
}

// key is a key of this test's namespace.
func (p *evalPair) key(name string) string { return p.ns + ":" + name }

// normalizeReply makes both sides' replies comparable: an error element becomes its text.
func normalizeReply(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeReply(x)
		}
		return out
	case error:
		return "error: " + v.Error()
	}
	return v
}

// redisErrCore strips what Redis adds around a script error: the script's position and sha.
func redisErrCore(msg string) string {
	if i := strings.Index(msg, " script: "); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "user_script:"); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[:i] + msg[i+j+2:]
		}
	}
	return msg
}

// same runs src on both sides and fails on any difference. Errors must agree on kind and
// on Redis's message (without Redis's position suffix).
func (p *evalPair) same(src string, keys []string, argv ...string) any {
	p.t.Helper()
	args := []any{"eval", src, len(keys)}
	for _, k := range keys {
		args = append(args, k)
	}
	for _, a := range argv {
		args = append(args, a)
	}
	want, werr := p.rdb.Do(ctx, args...).Result()
	got, gerr := p.eng.EvalForTest(ctx, src, keys, argv...)
	switch {
	case werr != nil && gerr != nil:
		if errors.Is(werr, redis.Nil) != errors.Is(gerr, redis.Nil) {
			p.t.Errorf("%s\n redis error %v\n engine error %v", src, werr, gerr)
		}
		if errors.Is(werr, redis.Nil) {
			return nil
		}
		if !errors.Is(gerr, front.ErrInternal) && !errors.Is(gerr, front.ErrUnavailable) {
			p.t.Errorf("%s: engine error %v is not front.ErrInternal", src, gerr)
		}
		if core := strings.TrimPrefix(redisErrCore(werr.Error()), "ERR "); !strings.Contains(gerr.Error(), core) {
			p.t.Errorf("%s\n redis error  %q\n engine error %q", src, core, gerr.Error())
		}
		return nil
	case werr != nil || gerr != nil:
		p.t.Errorf("%s\n redis  %#v, %v\n engine %#v, %v", src, want, werr, got, gerr)
		return nil
	}
	if w, g := normalizeReply(want), normalizeReply(got); !reflect.DeepEqual(w, g) {
		wa, _ := w.([]any)
		ga, _ := g.([]any)
		for i := 0; i < len(wa) && i < len(ga); i++ {
			if !reflect.DeepEqual(wa[i], ga[i]) {
				p.t.Errorf("%s %q\n element %d: redis %#v, engine %#v", src, argv, i, wa[i], ga[i])
				return got
			}
		}
		p.t.Errorf("%s %q\n redis  %#v\n engine %#v", src, argv, w, g)
	}
	return got
}

// numbers is a set of awkward doubles, as texts tonumber reads identically on both sides.
var numbers = []string{
	"0", "-0", "1", "-1", "0.5", "1.5", "2.5", "-2.5", "3.5", "0.1", "0.05", "0.25", "123.456", "-9.5",
	"100", "1e6", "999999.5", "1e15", "1e16", "1e17", "1e19", "1e20", "1e21", "1e100", "1e300",
	"1700000000000", "1700000000000.5", "1700000003333.3333", "1700000000000.0002",
	"33.333333333333336", "3.0000000000000004", "0.30000000000000004", "3333.3333333333335",
	"9007199254740991", "9007199254740993", "123456789012345678", "9223372036854775807",
	"9223372036854775808", "-9223372036854775809", "18446744073709551616",
	"1e-5", "0.0001", "0.00001", "0.000123456", "1e-300", "4.9e-324", "2.2250738585072014e-308",
	"1.7976931348623157e308", "inf", "-inf", "nan", "-nan", "12345.678", "65.9", "-0.4", "0.49999999999999994",
}

func TestEngineLuaStringFormatMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	formats := []string{
		"%.17g", "%.0f", "%.14g", "%g", "%e", "%.3e", "%f", "%.2f", "%10.3f", "%-12.4g|", "%+.5g",
		"% g", "%#g", "%#.0f", "%#.0e", "%05.1f", "%G", "%E", "%.1g", "%.0g", "%#.3g", "%.20f", "%.99f",
		"%d", "%5d", "%-5d|", "%05d", "%+d", "% d", "%.3d", "%.0d", "%i", "%x", "%X", "%#x", "%#X",
		"%o", "%#o", "%u", "%08.3x", "%s", "%10s", "%-10s|", "%.3s", "%q", "%%|%5.1s", "[%5s]",
	}
	src := `
local out = {}
for i = 1, #ARGV do
  local x = tonumber(ARGV[i])
  for _, f in ipairs({` + luaQuoteList(formats) + `}) do
    out[#out + 1] = string.format(f, x)
  end
  local z = 0
  out[#out + 1] = string.format('%.17g %g %d', z / z, -(z / z), x / 0)
end
return out`
	for _, n := range numbers {
		p.same(src, nil, n)
	}
	// Several conversions in one format, strings with specials, and the errors.
	p.same(`return string.format('%s=%d (%5.2f%%) %q', 'a', 3, 12.345, 'x"y\\z\n\r'..string.char(0)..'w')`, nil)
	p.same(`return string.format('%c%c%c', 72, 105.9, 33)`, nil)
	p.same(`return string.format('%s', string.rep('x', 150))`, nil)
	p.same(`return string.format('%5s|%-5s|', 12, 1e15)`, nil)
	p.same(`return string.format('%d', '42')`, nil)
	p.same(`return string.format('%d', 'x')`, nil)
	p.same(`return string.format('%d')`, nil)
	p.same(`return string.format('%y', 1)`, nil)
	p.same(`return string.format('%123d', 1)`, nil)
	p.same(`return string.format('%000005d', 1)`, nil)
	p.same(`return string.format('%-+ #0d', 1)`, nil)
	p.same(`return ('%.3f'):format(2/3)`, nil)
}

func luaQuoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func TestEngineLuaToNumberMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	inputs := append([]string{
		" 12 ", "0x1A", "0X1a", "1e5", "1e+20", "1E-3", "Infinity", "INF", "  -0x10  ", "010", "1.",
		".5", "5.", "", " ", "abc", "1a", "0x", "0xg", "0x1p4", "0x1.8p1", "0x.8", "1e", "1e+", "+5",
		"--5", "1_000", "\t7\n", "12\x00", "1 2", "0b101", "nan(123)", "nan(", "1e400", "-1e400",
		"1e-400", "00012", "0.1e1", "1d5", "+.5e-1", "- 1", "0x7fffffffffffffffff",
	}, numbers...)
	src := `
local out = {}
for i = 1, #ARGV do
  local v = tonumber(ARGV[i])
  if v == nil then out[#out + 1] = 'nil' else out[#out + 1] = string.format('%.17g', v) end
end
return out`
	p.same(src, nil, inputs...)
	p.same(`
local out = {}
local cases = {{'ff', 16}, {'FF', 16}, {'zz', 36}, {'8', 8}, {' 11 ', 2}, {'-ff', 16}, {'0x1f', 16},
  {'1e5', 16}, {'', 10}, {'7', 10}, {'12', 3}, {'0x', 16}, {'ffffffffffffffffff', 16}, {10, 16}}
for _, c in ipairs(cases) do
  local v = tonumber(c[1], c[2])
  if v == nil then out[#out + 1] = 'nil' else out[#out + 1] = string.format('%.17g', v) end
end
return out`, nil)
	p.same(`return tonumber('1', 99)`, nil)
	p.same(`return tonumber()`, nil)
	p.same(`return {tonumber(7), type(tonumber({})), type(tonumber(nil))}`, nil)
}

func TestEngineLuaNumberToStringMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	src := `
local x = tonumber(ARGV[1])
return {tostring(x), x .. '', '' .. x, 'a' .. x .. 'b', x .. x, table.concat({'v', 'w'}, ','), tostring(-x)}`
	for _, n := range numbers {
		p.same(src, nil, n)
	}
	p.same(`return {tostring(1/3), tostring(2^53), tostring(10/2), tostring(-0.0 * 1), tostring(true), tostring('s')}`, nil)
	p.same(`return 1 .. {}`, nil)
	p.same(`return nil .. 'x'`, nil)
}

func TestEngineLuaArithmeticMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	// The % operator: Lua 5.1's a - floor(a/b)*b, not fmod (they differ for large or
	// infinite operands), on negatives as the sliding window's ring index uses it.
	pairs := [][2]string{
		{"-3", "4"}, {"5.5", "2"}, {"-5.5", "2"}, {"1e17", "3"}, {"3", "-2"}, {"0.3", "0.1"}, {"5", "0"},
		{"-5", "inf"}, {"5", "-inf"}, {"inf", "2"}, {"-7", "7"}, {"7", "7"}, {"1700000000000", "7"},
		{"-1", "1001"}, {"-1000", "1001"}, {"-1001", "1001"}, {"9007199254740993", "3"},
		{"5666666667", "11"}, {"-0", "3"}, {"0.5", "-0.25"}, {"1e308", "1e-308"}, {"nan", "2"},
	}
	src := `
local a, b = tonumber(ARGV[1]), tonumber(ARGV[2])
-- The sign of a zero result is compared separately (TestEngineLuaKnownDifferences).
local f = function(x) if x == 0 then x = 0 end return string.format('%.17g', x) end
return {f(a % b), f(a - b), f(a * b), f(a / b), f(-a), f(math.floor(a / b)), f(math.ceil(a / b)),
  f(math.max(a, b)), f(math.min(a, b)), f(math.max(b, a)), f(math.min(b, a)), f(math.floor(a)), f(math.ceil(a)),
  tostring(a < b), tostring(a == b), tostring(a <= b)}`
	for _, pr := range pairs {
		p.same(src, nil, pr[0], pr[1])
	}
	p.same(`local c = 0; for j = -12, 12 do c = c * 3 + (j % 7) end return string.format('%.17g', c)`, nil)
	p.same(`return {7 % 3, -7 % 3, 7 % -3, 5.25 % 1, '7' % 4}`, nil)
	p.same(`return {} % 1`, nil)
}

// TestEngineLuaKnownDifferences pins the two places where gopher-lua still differs from
// Redis's Lua 5.1, neither of which the decision scripts can reach:
//
//   - An arithmetic result of -0 is stored as +0 (gopher-lua's number allocator shares one
//     boxed value for the small integers and tests v >= 0, which -0 passes). The scripts
//     never format a zero that could be negative: every value they write is a count, a
//     window start, a TTL >= 1, or a TAT/token level that is positive or the +0 of x - x.
//   - Runtime error messages are worded differently ("cannot perform add operation between
//     nil and number" for Lua's "attempt to perform arithmetic on a nil value"); both
//     sides fail, with front.ErrInternal.
func TestEngineLuaKnownDifferences(t *testing.T) {
	p := newEvalPair(t)
	src := `local z, m = 0, -1 return string.format('%g %g', m * z, z / m)`
	want, err := p.rdb.Do(ctx, "eval", src, 0).Result()
	if err != nil || want != "-0 -0" {
		t.Fatalf("redis: %v %v", want, err)
	}
	got, err := p.eng.EvalForTest(ctx, src, nil)
	if err != nil || got != "0 0" {
		t.Errorf("engine: %v %v; if gopher-lua now keeps -0, drop this known difference", got, err)
	}
	// A -0 that does not come from an arithmetic operator keeps its sign.
	p.same(`local z, m = 0, tonumber('-0') return string.format('%g %g %g %g', m, -z, math.ceil(-0.5), math.floor(m))`, nil)

	_, werr := p.rdb.Do(ctx, "eval", "return nil + 1", 0).Result()
	_, gerr := p.eng.EvalForTest(ctx, "return nil + 1", nil)
	if werr == nil || !errors.Is(gerr, front.ErrInternal) {
		t.Errorf("nil + 1: redis %v, engine %v", werr, gerr)
	}
}

func TestEngineLuaStringFunctionsMatchRedis(t *testing.T) {
	p := newEvalPair(t)
	// What the scripts use: find (plain), sub, unpack, # on sequences, select, table.concat.
	p.same(`
local v = ARGV[1]
local sep = string.find(v, ':', 1, true)
return {sep or -1, string.sub(v, 1, (sep or 1) - 1), string.sub(v, (sep or 0) + 1), string.sub(v, -3), string.sub(v, 2, -2),
  string.find(v, '.', 1, true) or -1, string.find(v, '%d+'), #v, string.len(v), string.rep('ab', 3), string.upper(v)}`,
		nil, "1700000000:42")
	p.same(`
local t = {}
for i = 1, 1000 do t[#t + 1] = tostring(i) end
local n = select('#', unpack(t))
return {n, #t, unpack(t, 998)}`, nil)
	p.same(`return {unpack({1, 2, 3}, 2, 3)}`, nil)
	p.same(`return {select(2, 'a', 'b', 'c')}`, nil)
	p.same(`return table.concat({1, 2.5, 'x'}, '-')`, nil)
	p.same(`return {string.byte('A'), string.char(97, 98), string.format('%5.2s|', 'abc')}`, nil)
}

func TestEngineLuaEnvironmentMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	// Redis's libraries bit, cjson, cmsgpack and struct, and gcinfo, are left out: the
	// decision scripts use none of them.
	globals := []string{"loadstring", "load", "coroutine", "getfenv", "setfenv", "newproxy", "unpack", "select",
		"print", "collectgarbage", "dofile", "loadfile", "module", "require", "xpcall", "rawlen", "rawequal",
		"rawget", "rawset", "next", "pairs", "ipairs", "_G", "_VERSION", "error", "assert", "type", "tostring",
		"tonumber", "pcall", "setmetatable", "getmetatable", "math", "string", "table", "os", "io", "debug",
		"package", "redis", "KEYS", "ARGV", "channel"}
	p.same(`
local out = {}
for _, name in ipairs({`+luaQuoteList(globals)+`}) do out[#out + 1] = name .. '=' .. type(rawget(_G, name)) end
for _, f in ipairs({'floor', 'ceil', 'max', 'min', 'abs', 'fmod', 'huge', 'sqrt', 'pow', 'log', 'exp'}) do
  out[#out + 1] = 'math.' .. f .. '=' .. type(math[f])
end
for _, f in ipairs({'find', 'sub', 'format', 'rep', 'len', 'byte', 'char', 'gsub', 'match', 'gmatch', 'lower', 'upper', 'reverse'}) do
  out[#out + 1] = 'string.' .. f .. '=' .. type(string[f])
end
for _, f in ipairs({'concat', 'insert', 'remove', 'sort', 'getn', 'maxn'}) do
  out[#out + 1] = 'table.' .. f .. '=' .. type(table[f])
end
return out`, nil)
	// Code compiled at run time follows the same Lua 5.1 rules.
	p.same(`local f = loadstring('return 1e17 % 3, 1e15 .. "", ...') return {string.format('%.17g', (f())), select(2, f()), select('#', f(7, 8))}`, nil)
	p.same(`local parts = {'return ', '2^10 % 7'} local i = 0 local f = load(function() i = i + 1 return parts[i] end) return f()`, nil)
	p.same(`return {loadstring('return (')}`, nil)
	p.same(`return table.concat({1/3, 1e15, 'x', 7}, ', ', 1, 3)`, nil)
	p.same(`return table.concat({1, {}, 3})`, nil)
	p.same(`return {table.concat({}), table.concat({'a', 'b'}, 1.5), table.concat({'a', 'b', 'c'}, '', 2)}`, nil)
}

func TestEngineLuaRepliesMatchRedis(t *testing.T) {
	p := newEvalPair(t)
	for _, src := range []string{
		`return {1, 2.9, -2.9, 'a', true, false, nil, 5}`,
		`return 1e30`, `local z = 0 return z / z`, `return -1e30`, `return 2^63`, `return -(2^63)`,
		`return 9007199254740993`, `return -0.5`, `return 'str'`, `return true`, `return false`, `return nil`,
		`return {}`, `return {1, {2, {3}}, {ok='s'}, {err='E nested'}}`, `return {err='x y'}`,
		`return {ok='fine'}`, `return {err=1}`, `return {ok=1}`, `return redis.error_reply('boom')`,
		`return redis.error_reply('MYCODE some message')`, `return redis.error_reply('-X y')`,
		`return redis.error_reply('-boom')`, `return redis.error_reply('')`, `return redis.error_reply(1)`,
		`return redis.status_reply('fine')`, `return redis.status_reply(1)`, `return {a=1, 2, 3}`,
		`error('boom')`, `error({err='custom'})`, `return redis.error_reply('BUSY not really')`,
		`x = 1`, `return undefined_global`, `return {redis.error_reply('e').err, redis.status_reply('s').ok}`,
	} {
		p.same(src, nil)
	}
}

func TestEngineLuaRedisCallMatchesRedis(t *testing.T) {
	p := newEvalPair(t)
	k := []string{p.key("call")}
	// Number arguments (Redis 7.0 writes them with %.17g) and the values read back.
	p.same(`
local out = {}
for _, v in ipairs({0.1, 1e15, 1/3, 2^53, 1e20, -0.0 * 1, 100, 1700000000000, 2.5e-7, 1e-320}) do
  redis.call('SET', KEYS[1], v)
  out[#out + 1] = redis.call('GET', KEYS[1])
end
redis.call('DEL', KEYS[1])
return out`, k)
	// Sorted-set scores: parsed like Redis (strtod), printed like Redis (%.17g).
	p.same(`
local out = {}
local scores = {'0.1', '1e20', '1700000000000', '-inf', '+inf', 'inf', '2.5e-7', '1e-320', '0x10', '1.5', '-0',
  ' 1', '1 ', '1e400', '1e-400', 'nan', '', 'abc', '1700000003333.3333', '-1e300', '+5', '.5', '5.'}
for i, s in ipairs(scores) do
  local r = redis.pcall('ZADD', KEYS[1], s, 'm' .. i)
  if type(r) == 'table' then out[#out + 1] = r.err else out[#out + 1] = r end
end
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for _, v in ipairs(all) do out[#out + 1] = v end
redis.call('DEL', KEYS[1])
return out`, k)
	// Score ranges: '(' exclusive, -inf/+inf, spaces, empty, junk.
	p.same(`
redis.call('ZADD', KEYS[1], 1, 'a', 2, 'b', 2, 'bb', 3, 'c', '-inf', 'lo', '+inf', 'hi', 2.5, 'x')
local out = {}
local ranges = {{'-inf', '+inf'}, {'(1', '3'}, {'1', '(3'}, {'(1', '(3'}, {' 1', '2'}, {'', '2'}, {'(', '2'},
  {'(inf', '+inf'}, {'nan', '1'}, {'1e400', 'inf'}, {'2', '1'}, {'2', '(2'}, {'(2', '2'}, {'x', '1'}, {'-inf', '(-inf'},
  {'1', '1 '}, {'2', '2'}}
for _, r in ipairs(ranges) do
  local c = redis.pcall('ZCOUNT', KEYS[1], r[1], r[2])
  if type(c) == 'table' then out[#out + 1] = c.err else out[#out + 1] = c end
  local s = redis.pcall('ZRANGEBYSCORE', KEYS[1], r[1], r[2], 'WITHSCORES')
  if s.err then out[#out + 1] = s.err else out[#out + 1] = table.concat(s, ',') end
  local v = redis.pcall('ZREVRANGEBYSCORE', KEYS[1], r[2], r[1], 'WITHSCORES', 'LIMIT', 1, 2)
  if v.err then out[#out + 1] = v.err else out[#out + 1] = table.concat(v, ',') end
end
for _, lim in ipairs({{0, 1}, {1, -1}, {-1, 2}, {10, 1}, {2, 0}, {0, 100}}) do
  out[#out + 1] = table.concat(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'LIMIT', lim[1], lim[2]), ',')
  out[#out + 1] = table.concat(redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '-inf', 'LIMIT', lim[1], lim[2]), ',')
end
for _, rk in ipairs({{0, 0}, {0, -1}, {-2, -1}, {5, 2}, {-100, 1}, {3, 100}, {100, 200}, {-1, -2}}) do
  out[#out + 1] = table.concat(redis.call('ZRANGE', KEYS[1], rk[1], rk[2], 'WITHSCORES'), ',')
end
out[#out + 1] = redis.call('ZREMRANGEBYSCORE', KEYS[1], '(1', 2)
out[#out + 1] = redis.call('ZCARD', KEYS[1])
out[#out + 1] = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '+inf')
out[#out + 1] = redis.call('EXISTS', KEYS[1])
out[#out + 1] = redis.call('ZCARD', KEYS[1])
out[#out + 1] = redis.call('ZADD', KEYS[1], 1, 'a', 1, 'a', 2, 'b')
out[#out + 1] = redis.call('ZADD', KEYS[1], 3, 'a', 2, 'b')
out[#out + 1] = table.concat(redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), ',')
redis.call('DEL', KEYS[1])
return out`, k)
	// Hashes, strings, TTLs, types and their errors.
	p.same(`
local out = {}
local function add(r)
  if type(r) ~= 'table' then out[#out + 1] = r return end
  local parts = {}
  for i, v in ipairs(r) do parts[i] = tostring(v) end
  out[#out + 1] = r.err or r.ok or table.concat(parts, ',')
end
add(redis.call('HSET', KEYS[1], 'a', '1', 'b', '2'))
add(redis.call('HSET', KEYS[1], 'a', '3', 'c', '4'))
add(redis.call('HGET', KEYS[1], 'a'))
add(redis.call('HGET', KEYS[1], 'zz'))
local m = redis.call('HMGET', KEYS[1], 'a', 'zz', 'c')
add(tostring(m[1]) .. tostring(m[2]) .. tostring(m[3]))
add(redis.call('HGETALL', KEYS[1]))
add(redis.call('TYPE', KEYS[1]))
add(redis.call('PTTL', KEYS[1]))
add(redis.call('PEXPIRE', KEYS[1], 100000) )
add(redis.call('PTTL', KEYS[1]) > 99000 and 'ttl' or 'no ttl')
add(redis.pcall('GET', KEYS[1]))
add(redis.pcall('ZADD', KEYS[1], 1, 'm'))
add(redis.pcall('ZCARD', KEYS[1]))
add(redis.pcall('HSET', KEYS[1], 'a'))
add(redis.pcall('HSET', KEYS[1], 'a', 'b', 'c'))
add(redis.pcall('PEXPIRE', KEYS[1], 'x'))
add(redis.pcall('PEXPIRE', KEYS[1], '1.5'))
add(redis.pcall('PEXPIRE', KEYS[1], '+5'))
add(redis.pcall('PEXPIRE', KEYS[1], '05'))
add(redis.call('SET', KEYS[1], 'v'))
add(redis.call('PTTL', KEYS[1]))
add(redis.call('TYPE', KEYS[1]))
add(redis.pcall('HGET', KEYS[1], 'a'))
add(redis.call('SET', KEYS[1], 'w', 'PX', 5000))
add(redis.call('PTTL', KEYS[1]) > 4000 and 'ttl' or 'no ttl')
add(redis.call('SET', KEYS[1], 'x', 'KEEPTTL'))
add(redis.call('PTTL', KEYS[1]) > 4000 and 'ttl' or 'no ttl')
add(redis.call('SET', KEYS[1], 'y'))
add(redis.call('PTTL', KEYS[1]))
add(redis.call('SET', KEYS[1], 'z', 'EX', 5))
add(redis.call('PTTL', KEYS[1]) > 4000 and 'ttl' or 'no ttl')
add(redis.pcall('SET', KEYS[1], 'v', 'PX', '0'))
add(redis.pcall('SET', KEYS[1], 'v', 'PX', '-5'))
add(redis.pcall('SET', KEYS[1], 'v', 'PX'))
add(redis.pcall('SET', KEYS[1], 'v', 'PX', 'x'))
add(redis.pcall('SET', KEYS[1], 'v', 'PX', 5, 'EX', 5))
add(redis.pcall('SET', KEYS[1], 'v', 'PX', 5, 'KEEPTTL'))
add(redis.pcall('SET', KEYS[1], 'v', 'BOGUS'))
add(redis.call('GET', KEYS[1]))
add(redis.call('PEXPIRE', KEYS[1], 0))
add(redis.call('EXISTS', KEYS[1], KEYS[1]))
add(redis.call('PEXPIRE', KEYS[1], 10))
add(redis.call('PTTL', KEYS[1]))
add(redis.call('DEL', KEYS[1], KEYS[1]))
add(redis.call('HGETALL', KEYS[1]))
add(redis.call('HMGET', KEYS[1], 'a'))
add(redis.call('ZRANGE', KEYS[1], 0, -1))
add(redis.call('GET', KEYS[1]) == false and 'false' or 'other')
add(redis.pcall('ZRANGE', KEYS[1], 0, 1, 'LIMIT', 0, 1))
add(redis.pcall('ZRANGE', KEYS[1], 'a', 1))
add(redis.pcall('ZRANGE', KEYS[1], 0, 1, 'BOGUS'))
add(redis.pcall('ZRANGEBYSCORE', KEYS[1], 0, 1, 'LIMIT', 0))
add(redis.pcall('ZRANGEBYSCORE', KEYS[1], 0, 1, 'LIMIT', 'a', 1))
add(redis.pcall('ZADD', KEYS[1], 1))
add(redis.pcall('ZADD', KEYS[1], 1, 'a', 2))
add(redis.pcall('GET'))
add(redis.pcall('GET', KEYS[1], 'x'))
add(redis.pcall('TIME', 'x'))
add(#redis.call('TIME'))
add(type(redis.call('TIME')[2]))
add(redis.pcall('GET', {}))
add(redis.pcall())
return out`, k)
}
