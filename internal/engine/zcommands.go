package engine

import (
	"strings"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
)

// The sorted-set commands the sliding-window log uses, with Redis 7.0's semantics,
// argument checks and error texts.

// cmdZAdd: ZADD key score member [score member ...]. The NX/XX/GT/LT/CH/INCR options are
// refused by name. Every score is checked before anything is written, as in Redis.
func cmdZAdd(x *scriptExec, args []string) reply {
	switch opt := strings.ToUpper(args[2]); opt {
	case "NX", "XX", "GT", "LT", "CH", "INCR":
		return unsupportedOption("ZADD", opt)
	}
	pairs := args[2:]
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return syntaxErrReply
	}
	for j := 0; j < len(pairs); j += 2 {
		if _, ok := parseScore(pairs[j]); !ok {
			return notFloatReply
		}
	}
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	if e == nil {
		e = x.create(kindZset)
	}
	added := int64(0)
	for j := 0; j < len(pairs); j += 2 {
		score, _ := parseScore(pairs[j])
		if e.zset.add(score, pairs[j+1]) {
			added++
		}
	}
	return intReply(added)
}

func cmdZCard(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return intReply(0)
	}
	return intReply(int64(len(e.zset.items)))
}

func cmdZCount(x *scriptExec, args []string) reply {
	r, ok := parseScoreRange(args[2], args[3])
	if !ok {
		return rangeNotFloat
	}
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return intReply(0)
	}
	lo, hi := e.zset.bounds(r)
	return intReply(int64(hi - lo))
}

// cmdZRange: ZRANGE key start stop [WITHSCORES], by rank. Redis 7's BYSCORE, BYLEX and REV
// forms are refused by name.
func cmdZRange(x *scriptExec, args []string) reply {
	withScores, limit := false, false
	for i := 4; i < len(args); i++ {
		switch opt := strings.ToUpper(args[i]); {
		case opt == "WITHSCORES":
			withScores = true
		case opt == "LIMIT" && len(args)-i-1 >= 2:
			if _, ok := parseLong(args[i+1]); !ok {
				return notIntegerReply
			}
			if _, ok := parseLong(args[i+2]); !ok {
				return notIntegerReply
			}
			limit = true
			i += 2
		case opt == "BYSCORE" || opt == "BYLEX" || opt == "REV":
			return unsupportedOption("ZRANGE", opt)
		default:
			return syntaxErrReply
		}
	}
	if limit {
		return errReply("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
	}
	start, ok1 := parseLong(args[2])
	stop, ok2 := parseLong(args[3])
	if !ok1 || !ok2 {
		return notIntegerReply
	}
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	arr := x.arr[:0]
	if e != nil {
		n := int64(len(e.zset.items))
		if start < 0 {
			start += n
		}
		if stop < 0 {
			stop += n
		}
		start = max(start, 0)
		if start <= stop && start < n {
			stop = min(stop, n-1)
			for _, it := range e.zset.items[start : stop+1] {
				arr = appendZItem(arr, it, withScores)
			}
		}
	}
	x.arr = arr
	return arrayReply(arr)
}

func appendZItem(arr []bulk, it zitem, withScores bool) []bulk {
	arr = append(arr, bulk{s: it.member})
	if withScores {
		arr = append(arr, bulk{s: lua51.RedisDoubleString(it.score)})
	}
	return arr
}

// zrangeByScore: Z[REV]RANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count] (max
// first when reversed). A negative offset gives nothing and a negative count no limit,
// as in Redis.
func zrangeByScore(x *scriptExec, args []string, reverse bool) reply {
	withScores := false
	offset, count := int64(0), int64(-1)
	for i := 4; i < len(args); i++ {
		switch opt := strings.ToUpper(args[i]); {
		case opt == "WITHSCORES":
			withScores = true
		case opt == "LIMIT" && len(args)-i-1 >= 2:
			var ok1, ok2 bool
			offset, ok1 = parseLong(args[i+1])
			count, ok2 = parseLong(args[i+2])
			if !ok1 || !ok2 {
				return notIntegerReply
			}
			i += 2
		default:
			return syntaxErrReply
		}
	}
	minArg, maxArg := args[2], args[3]
	if reverse {
		minArg, maxArg = maxArg, minArg
	}
	r, ok := parseScoreRange(minArg, maxArg)
	if !ok {
		return rangeNotFloat
	}
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	arr := x.arr[:0]
	if e != nil && offset >= 0 {
		lo, hi := e.zset.bounds(r)
		n := int64(hi - lo)
		if offset < n {
			take := n - offset
			if count >= 0 && count < take {
				take = count
			}
			for k := int64(0); k < take; k++ {
				idx := lo + int(offset+k)
				if reverse {
					idx = hi - 1 - int(offset+k)
				}
				arr = appendZItem(arr, e.zset.items[idx], withScores)
			}
		}
	}
	x.arr = arr
	return arrayReply(arr)
}

func cmdZRemRangeByScore(x *scriptExec, args []string) reply {
	r, ok := parseScoreRange(args[2], args[3])
	if !ok {
		return rangeNotFloat
	}
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return intReply(0)
	}
	n := e.zset.removeRange(r)
	if len(e.zset.items) == 0 {
		// Redis deletes a key whose sorted set became empty.
		x.drop()
	}
	return intReply(int64(n))
}

// cmdZRem: ZREM key member [member ...].
func cmdZRem(x *scriptExec, args []string) reply {
	e, bad := x.typed(kindZset)
	if bad != nil {
		return *bad
	}
	if e == nil {
		return intReply(0)
	}
	n := 0
	for _, m := range args[2:] {
		if e.zset.remove(m) {
			n++
		}
	}
	if len(e.zset.items) == 0 {
		// Redis deletes a key whose sorted set became empty.
		x.drop()
	}
	return intReply(int64(n))
}
