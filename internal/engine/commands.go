package engine

import (
	"math"
	"strconv"
	"strings"
)

// The string, hash and keyspace commands the decision scripts use, with Redis 7.0's
// semantics, argument checks and error texts.

func cmdGet(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindString)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return nilReply
	}
	return bulkReply(e.str)
}

// cmdSet: SET key value [EX seconds | PX milliseconds | KEEPTTL]. NX, XX, GET, EXAT, PXAT
// are Redis options the scripts never use, refused by name.
func cmdSet(x *scriptExec, args []string) reply {
	var unit int64 // 0: no expiry given; else ms per unit of expiryArg
	expiryArg, keepTTL := "", false
	for i := 3; i < len(args); i++ {
		switch opt := strings.ToUpper(args[i]); opt {
		case "EX", "PX":
			u := int64(1)
			if opt == "EX" {
				u = 1000
			}
			if keepTTL || (unit != 0 && unit != u) || i+1 >= len(args) {
				return syntaxErrReply
			}
			unit, expiryArg = u, args[i+1]
			i++
		case "KEEPTTL":
			if unit != 0 {
				return syntaxErrReply
			}
			keepTTL = true
		case "NX", "XX", "GET", "EXAT", "PXAT":
			return unsupportedOption("SET", opt)
		default:
			return syntaxErrReply
		}
	}
	var expireAt int64
	if unit != 0 {
		v, ok := parseLong(expiryArg)
		if !ok {
			return notIntegerReply
		}
		if v <= 0 || v > math.MaxInt64/unit || v*unit > math.MaxInt64-x.nowMs {
			return errReply("ERR invalid expire time in 'set' command")
		}
		expireAt = x.nowMs + v*unit
	}
	e := x.entry()
	if e == nil {
		e = x.create(kindString)
	} else {
		// SET replaces a value of any type.
		e.kind, e.hash, e.zset = kindString, nil, nil
	}
	e.str = args[2]
	if !keepTTL {
		e.expireAt = expireAt
	}
	return okReply
}

func cmdHGet(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindHash)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return nilReply
	}
	if v, ok := e.hash.get(args[2]); ok {
		return bulkReply(v)
	}
	return nilReply
}

func cmdHMGet(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindHash)
	if bad != nil {
		return *bad
	}
	arr := x.arr[:0]
	for _, f := range args[2:] {
		b := bulk{null: true}
		if e != nil {
			if v, ok := e.hash.get(f); ok {
				b = bulk{s: v}
			}
		}
		arr = append(arr, b)
	}
	x.arr = arr
	return arrayReply(arr)
}

func cmdHSet(x *scriptExec, args []string) reply {
	if len(args)%2 != 0 {
		return errReply("ERR wrong number of arguments for 'hset' command")
	}
	e, bad := x.typed(kindHash)
	if bad != nil {
		return *bad
	}
	if e == nil {
		e = x.create(kindHash)
	}
	added := int64(0)
	for i := 2; i < len(args); i += 2 {
		if e.hash.set(args[i], args[i+1]) {
			added++
		}
	}
	return intReply(added)
}

func cmdHGetAll(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindHash)
	if bad != nil {
		return *bad
	}
	arr := x.arr[:0]
	if e != nil {
		for _, s := range e.hash.pairs {
			arr = append(arr, bulk{s: s})
		}
	}
	x.arr = arr
	return arrayReply(arr)
}

// cmdPExpire: PEXPIRE key milliseconds. Redis 7's NX/XX/GT/LT are refused by name.
func cmdPExpire(x *scriptExec, args []string) reply {
	if len(args) > 3 {
		return unsupportedOption("PEXPIRE", strings.ToUpper(args[3]))
	}
	ms, ok := parseLong(args[2])
	if !ok {
		return notIntegerReply
	}
	if ms > 0 && ms > math.MaxInt64-x.nowMs {
		return errReply("ERR invalid expire time in 'pexpire' command")
	}
	e := x.entry()
	if e == nil {
		return intReply(0)
	}
	when := x.nowMs + ms
	if when <= x.nowMs {
		// A deadline already past deletes the key, as Redis does.
		x.drop()
		return intReply(1)
	}
	e.expireAt = when
	return intReply(1)
}

func cmdPTTL(x *scriptExec, args []string) reply {
	e := x.entry()
	switch {
	case e == nil:
		return intReply(-2)
	case e.expireAt == 0:
		return intReply(-1)
	}
	return intReply(max(0, e.expireAt-x.nowMs))
}

func cmdExists(x *scriptExec, args []string) reply {
	n := int64(0)
	for range args[1:] {
		if x.entry() != nil {
			n++
		}
	}
	return intReply(n)
}

func cmdType(x *scriptExec, args []string) reply {
	e := x.entry()
	if e == nil {
		return statusReply("none")
	}
	return statusReply(e.kind.String())
}

func cmdDel(x *scriptExec, args []string) reply {
	// Every argument names the same key (check enforced it): at most one deletion.
	if x.entry() == nil {
		return intReply(0)
	}
	x.drop()
	return intReply(1)
}

func cmdTime(x *scriptExec, args []string) reply {
	arr := append(x.arr[:0],
		bulk{s: strconv.FormatInt(x.clock.Unix(), 10)},
		bulk{s: strconv.FormatInt(int64(x.clock.Nanosecond()/1000), 10)})
	x.arr = arr
	return arrayReply(arr)
}

// cmdHDel: HDEL key field [field ...]. A hash left empty is deleted, as Redis does.
func cmdHDel(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindHash)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return intReply(0)
	}
	n := int64(0)
	for _, f := range args[2:] {
		if e.hash.del(f) {
			n++
		}
	}
	if len(e.hash.pairs) == 0 {
		x.drop()
	}
	return intReply(n)
}
