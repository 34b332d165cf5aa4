package engine

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// DUMP and RESTORE, for the batch script's undo (luascripts all.batch). The engine's DUMP
// payload is not Redis's serialization: it names a copy of the value kept by the run that
// made it, so RESTORE accepts it only in that run; anything else is refused as Redis refuses
// a payload it cannot read.

const dumpPrefix = "engine-dump:"

// dumpRuns numbers the runs that DUMP, so that a payload cannot outlive its run.
var dumpRuns atomic.Uint64

var badPayloadReply = errReply("ERR DUMP payload version or checksum are wrong")

func cmdDump(x *scriptExec, args []string) reply {
	e := x.entry()
	if e == nil {
		return nilReply
	}
	if len(x.dumps) == 0 {
		x.dumpRun = dumpRuns.Add(1)
	}
	x.dumps = append(x.dumps, e.clone())
	return bulkReply(dumpPrefix + strconv.FormatUint(x.dumpRun, 10) + ":" + strconv.Itoa(len(x.dumps)-1))
}

// cmdRestore: RESTORE key ttl payload [REPLACE]. ABSTTL, IDLETIME and FREQ are refused by
// name (the batch script never uses them).
func cmdRestore(x *scriptExec, args []string) reply {
	replace := false
	for _, a := range args[4:] {
		switch opt := strings.ToUpper(a); opt {
		case "REPLACE":
			replace = true
		case "ABSTTL", "IDLETIME", "FREQ":
			return unsupportedOption("RESTORE", opt)
		default:
			return syntaxErrReply
		}
	}
	ttl, ok := parseLong(args[2])
	if !ok {
		return notIntegerReply
	}
	if ttl < 0 {
		return errReply("ERR Invalid TTL value, must be >= 0")
	}
	saved := x.dumped(args[3])
	if saved == nil {
		return badPayloadReply
	}
	if x.entry() != nil {
		if !replace {
			return errReply("BUSYKEY Target key name already exists.")
		}
		x.drop()
	}
	e := saved.clone()
	e.expireAt = 0
	if ttl > 0 {
		e.expireAt = x.nowMs + ttl
	}
	x.put(e)
	return okReply
}

// dumped is the value a payload of this run names, or nil.
func (x *scriptExec) dumped(payload string) *entry {
	rest, ok := strings.CutPrefix(payload, dumpPrefix)
	run, idx, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || len(x.dumps) == 0 || run != strconv.FormatUint(x.dumpRun, 10) {
		return nil
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= len(x.dumps) {
		return nil
	}
	return x.dumps[i]
}

// clone is a deep copy of the value (its size is counted again when it is stored).
func (e *entry) clone() *entry {
	c := &entry{expireAt: e.expireAt, kind: e.kind, str: e.str}
	if h := e.hash; h != nil {
		c.hash = &hashValue{pairs: slices.Clone(h.pairs), index: maps.Clone(h.index), strBytes: h.strBytes}
	}
	if z := e.zset; z != nil {
		c.zset = &zsetValue{items: slices.Clone(z.items), index: maps.Clone(z.index), memberBytes: z.memberBytes}
	}
	return c
}
