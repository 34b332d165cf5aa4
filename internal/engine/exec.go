package engine

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
)

// How the command shim runs a command for a script: the replies it produces, the state of
// one script run, and the table of supported commands with Redis's arity and key checks.
// Anything not in the table, a command or an option, is refused by name rather than
// approximated.

// replyType mirrors the RESP2 reply kinds a command produces.
type replyType uint8

const (
	replyInt replyType = iota
	replyBulk
	replyNil
	replyStatus
	replyArray
	replyError
)

// reply is one command's answer. An array's elements alias the run's buffer until they
// are handed to Lua.
type reply struct {
	typ replyType
	n   int64
	s   string // bulk, status or error text
	arr []bulk
}

// bulk is an array element: a bulk string, or a nil one.
type bulk struct {
	s    string
	null bool
}

func intReply(n int64) reply      { return reply{typ: replyInt, n: n} }
func bulkReply(s string) reply    { return reply{typ: replyBulk, s: s} }
func statusReply(s string) reply  { return reply{typ: replyStatus, s: s} }
func errReply(msg string) reply   { return reply{typ: replyError, s: msg} }
func arrayReply(arr []bulk) reply { return reply{typ: replyArray, arr: arr} }
func unsupportedOption(cmd, opt string) reply {
	return errReply("ERR option \"" + opt + "\" of " + cmd + " is not supported by the embedded engine")
}

var (
	nilReply         = reply{typ: replyNil}
	okReply          = statusReply("OK")
	wrongTypeReply   = errReply("WRONGTYPE Operation against a key holding the wrong kind of value")
	syntaxErrReply   = errReply("ERR syntax error")
	notIntegerReply  = errReply("ERR value is not an integer or out of range")
	notFloatReply    = errReply("ERR value is not a valid float")
	rangeNotFloat    = errReply("ERR min or max is not a float")
	wrongArityScript = errReply("ERR Wrong number of args calling Redis command from script")
)

// scriptExec is one script run: the keys it may touch (its KEYS), whose shards it holds
// locked for the whole run, the key the current command names, and the engine's clock
// frozen at the run's start, as Redis freezes time for a script (TTLs are real time, never
// the script's explicit now).
type scriptExec struct {
	ks      *keyspace
	keys    []string
	keySet  map[string]bool // the keys of a run with many, for declared
	sh      *shard          // the current key's shard; nil when the script has no key
	key     string
	clock   time.Time
	nowMs   int64
	e       *entry // the current key's entry once looked up; nil when absent
	looked  bool
	wrote   bool // a write happened: from then on the run must not be interrupted
	arr     []bulk
	dumps   []*entry // the values DUMP saved in this run (see cmdDump)
	dumpRun uint64   // the number of this run's payloads
}

// keySetFrom is the number of keys from which a run finds its keys in a map, not a scan.
const keySetFrom = 8

func (x *scriptExec) begin(ks *keyspace, keys []string, clock time.Time) {
	*x = scriptExec{ks: ks, keys: keys, clock: clock, nowMs: clock.UnixMilli(), arr: x.arr[:0], dumps: x.dumps[:0]}
	if len(keys) >= keySetFrom {
		x.keySet = make(map[string]bool, len(keys))
		for _, k := range keys {
			x.keySet[k] = true
		}
	}
	if len(keys) > 0 {
		x.focus(keys[0])
	}
}

// focus makes key the current key, counting the previous one's new size.
func (x *scriptExec) focus(key string) {
	if x.sh != nil && key == x.key {
		return
	}
	if x.e != nil {
		x.ks.resize(x.key, x.e)
	}
	x.key, x.sh, x.e, x.looked = key, x.ks.shardFor(key), nil, false
}

// declared tells whether key is one of the run's KEYS.
func (x *scriptExec) declared(key string) bool {
	if x.keySet != nil {
		return x.keySet[key]
	}
	for _, k := range x.keys {
		if k == key {
			return true
		}
	}
	return false
}

// end counts the current key's new size, if the run left it held, and drops the
// references a finished run holds (push already cleared the array buffer). The shards are
// still locked.
func (x *scriptExec) end() {
	if x.e != nil {
		x.ks.resize(x.key, x.e)
	}
	clear(x.dumps)
	*x = scriptExec{arr: x.arr[:0], dumps: x.dumps[:0]}
}

// entry looks the key up once per run (later commands reuse the result, kept current by
// create and drop).
func (x *scriptExec) entry() *entry {
	if !x.looked {
		x.e, x.looked = x.ks.lookup(x.sh, x.key, x.nowMs), true
	}
	return x.e
}

func (x *scriptExec) create(kind valueKind) *entry {
	e := &entry{kind: kind}
	switch kind {
	case kindHash:
		e.hash = &hashValue{}
	case kindZset:
		e.zset = &zsetValue{}
	}
	x.ks.insert(x.sh, x.key, e)
	x.e, x.looked = e, true
	return e
}

// put stores e as the current key, which must be absent.
func (x *scriptExec) put(e *entry) {
	x.ks.insert(x.sh, x.key, e)
	x.e, x.looked = e, true
}

func (x *scriptExec) drop() {
	if e := x.entry(); e != nil {
		x.ks.remove(x.sh, x.key, e)
		x.e = nil
	}
}

// typed returns the key's entry if it holds kind (nil if absent), or a WRONGTYPE reply.
func (x *scriptExec) typed(kind valueKind) (*entry, *reply) {
	e := x.entry()
	if e != nil && e.kind != kind {
		return nil, &wrongTypeReply
	}
	return e, nil
}

// command is one supported command: Redis's arity (negative: at least that many
// arguments, the name included), where its keys are, and whether it writes.
type command struct {
	name     string // lower case, as Redis names a command in its errors
	arity    int
	firstKey int // index of the first key argument; 0 for none
	allKeys  bool
	write    bool
	run      func(x *scriptExec, args []string) reply
}

var engineCommands = map[string]*command{}

func init() {
	for _, c := range []*command{
		{name: "get", arity: 2, firstKey: 1, run: cmdGet},
		{name: "set", arity: -3, firstKey: 1, write: true, run: cmdSet},
		{name: "hget", arity: 3, firstKey: 1, run: cmdHGet},
		{name: "hmget", arity: -3, firstKey: 1, run: cmdHMGet},
		{name: "hset", arity: -4, firstKey: 1, write: true, run: cmdHSet},
		{name: "hgetall", arity: 2, firstKey: 1, run: cmdHGetAll},
		{name: "pexpire", arity: -3, firstKey: 1, write: true, run: cmdPExpire},
		{name: "pttl", arity: 2, firstKey: 1, run: cmdPTTL},
		{name: "exists", arity: -2, firstKey: 1, allKeys: true, run: cmdExists},
		{name: "type", arity: 2, firstKey: 1, run: cmdType},
		{name: "del", arity: -2, firstKey: 1, allKeys: true, write: true, run: cmdDel},
		{name: "time", arity: 1, run: cmdTime},
		{name: "zadd", arity: -4, firstKey: 1, write: true, run: cmdZAdd},
		{name: "zcard", arity: 2, firstKey: 1, run: cmdZCard},
		{name: "zcount", arity: 4, firstKey: 1, run: cmdZCount},
		{name: "zrange", arity: -4, firstKey: 1, run: cmdZRange},
		{name: "zrangebyscore", arity: -4, firstKey: 1, run: func(x *scriptExec, a []string) reply { return zrangeByScore(x, a, false) }},
		{name: "zrevrangebyscore", arity: -4, firstKey: 1, run: func(x *scriptExec, a []string) reply { return zrangeByScore(x, a, true) }},
		{name: "zremrangebyscore", arity: 4, firstKey: 1, write: true, run: cmdZRemRangeByScore},
		{name: "zrem", arity: -3, firstKey: 1, write: true, run: cmdZRem},
		{name: "dump", arity: 2, firstKey: 1, run: cmdDump},
		{name: "restore", arity: -4, firstKey: 1, write: true, run: cmdRestore},
		{name: "hdel", arity: -3, firstKey: 1, write: true, run: cmdHDel},
	} {
		engineCommands[strings.ToUpper(c.name)] = c
	}
}

func lookupCommand(name string) *command {
	if c, ok := engineCommands[name]; ok {
		return c
	}
	return engineCommands[strings.ToUpper(name)]
}

// check validates a call's shape before it runs: arity, then the key rule (a command names
// one of the run's KEYS, one key per command), and makes that key the current one.
func (c *command) check(x *scriptExec, args []string) *reply {
	if (c.arity > 0 && len(args) != c.arity) || (c.arity < 0 && len(args) < -c.arity) {
		return &wrongArityScript
	}
	if c.firstKey == 0 {
		return nil
	}
	last := c.firstKey
	if c.allKeys {
		last = len(args) - 1
	}
	key := args[c.firstKey]
	for i := c.firstKey; i <= last; i++ {
		if args[i] != key || !x.declared(key) {
			r := errReply("ERR embedded engine: a script may only touch its KEYS, one per command; " +
				strings.ToUpper(c.name) + " named " + strconv.Quote(args[i]))
			return &r
		}
	}
	x.focus(key)
	return nil
}

// parseLong is Redis's string2ll: an optional '-', then digits without a leading zero
// (or "0" itself), no spaces, no '+', within int64.
func parseLong(s string) (int64, bool) {
	if s == "0" {
		return 0, true
	}
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	i, neg := 0, false
	if s[0] == '-' {
		i, neg = 1, true
		if len(s) == 1 {
			return 0, false
		}
	}
	if s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(s); i++ {
		if !lua51.IsDigit(s[i]) {
			return 0, false
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}
