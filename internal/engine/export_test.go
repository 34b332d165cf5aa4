package engine

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
	"github.com/throttlekit/throttlekit-go/internal/front"
)

// Test-only access to the embedded engine's internals (this file is compiled only into
// the package's tests).

// EvalForTest runs an ad hoc script through the engine's interpreter and command shim,
// exactly as a decision script runs: KEYS[1] (if any) is the one key it may touch, and
// its shard is held for the run.
func (b *Backend) EvalForTest(ctx context.Context, source string, keys []string, argv ...string) (any, error) {
	e := b.engine
	proto, err := lua51.CompileScript("probe", source)
	if err != nil {
		return nil, front.NewError(front.ErrInternal, "embedded engine: compiling probe: %v", err)
	}
	st, err := e.state()
	if err != nil {
		return nil, err
	}
	fn, err := st.instantiate(proto)
	if err != nil {
		e.states.Put(st)
		return nil, front.NewError(front.ErrInternal, "embedded engine: probe: %v", err)
	}
	st.setKeys(keys...)
	st.setArgv(argv)
	return e.exec(ctx, st, fn, "probe", keys)
}

// ZEntry is one member of a sorted set with its score.
type ZEntry struct {
	Member string
	Score  float64
}

// EngineDump is a key's raw state in the engine, as GET, HGETALL, ZRANGE 0 -1 WITHSCORES
// and PTTL would show it.
type EngineDump struct {
	Type   string // "none", "string", "hash", "zset"
	String string
	Hash   map[string]string
	Zset   []ZEntry
	TTLMs  int64 // -1 without a TTL, -2 when absent
}

// DumpForTest reads key's state without touching it (an expired key reads as absent but
// is not reclaimed).
func (b *Backend) DumpForTest(key string) EngineDump {
	ks := b.engine.ks
	sh := ks.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := b.engine.clock().UnixMilli()
	e := sh.keys[key]
	if e == nil || e.expired(now) {
		return EngineDump{Type: "none", TTLMs: -2}
	}
	d := EngineDump{Type: e.kind.String(), TTLMs: -1}
	if e.expireAt != 0 {
		d.TTLMs = e.expireAt - now
	}
	switch e.kind {
	case kindString:
		d.String = e.str
	case kindHash:
		d.Hash = map[string]string{}
		for i := 0; i < len(e.hash.pairs); i += 2 {
			d.Hash[e.hash.pairs[i]] = e.hash.pairs[i+1]
		}
	case kindZset:
		for _, it := range e.zset.items {
			d.Zset = append(d.Zset, ZEntry{it.member, it.score})
		}
	}
	return d
}

// KeysForTest lists the live keys the engine holds, sorted.
func (b *Backend) KeysForTest() []string {
	ks := b.engine.ks
	now := b.engine.clock().UnixMilli()
	var out []string
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		for k, e := range sh.keys {
			if !e.expired(now) {
				out = append(out, k)
			}
		}
		sh.mu.Unlock()
	}
	sort.Strings(out)
	return out
}

// FillForTest writes n string keys prefix0, prefix1, ... with a TTL, through the command
// shim's SET ... PX (as a script would, minus the interpreter).
func (b *Backend) FillForTest(prefix string, n int, ttl time.Duration) error {
	ks := b.engine.ks
	px := strconv.FormatInt(ttl.Milliseconds(), 10)
	var x scriptExec
	for i := 0; i < n; i++ {
		key := prefix + strconv.Itoa(i)
		sh := ks.shardFor(key)
		sh.mu.Lock()
		x.begin(ks, []string{key}, b.engine.clock())
		r := cmdSet(&x, []string{"SET", key, "1", "PX", px})
		x.end()
		sh.mu.Unlock()
		if r.typ == replyError {
			return front.NewError(front.ErrInternal, "%s", r.s)
		}
	}
	return nil
}

// SweepForTest runs one sweep pass now, with the given time budget.
func (b *Backend) SweepForTest(budget time.Duration) {
	b.engine.ks.sweep(0, b.engine.clock().UnixMilli(), budget, nil)
}

// RecountForTest counts every held key's size from scratch (every field, value and member,
// not the running sums the engine keeps) and returns the total with the engine's own count,
// and the first key whose recorded size differs from its recount ("" if none).
func (b *Backend) RecountForTest() (recount, counted int64, drifted string) {
	ks := b.engine.ks
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		for k, e := range sh.keys {
			n := entryOverhead + stringBytes(len(k))
			switch e.kind {
			case kindString:
				n += stringBytes(len(e.str))
			case kindHash:
				n += hashOverhead + int64(cap(e.hash.pairs))*stringHeader + int64(len(e.hash.index))*indexEntrySize
				for _, s := range e.hash.pairs {
					n += stringBytes(len(s))
				}
			case kindZset:
				n += zsetOverhead + int64(cap(e.zset.items))*zitemBytes + int64(len(e.zset.index))*indexEntrySize
				for _, it := range e.zset.items {
					n += stringBytes(len(it.member))
				}
			}
			if n != e.size && drifted == "" {
				drifted = k
			}
			recount += n
		}
		sh.mu.Unlock()
	}
	return recount, ks.bytes.Load(), drifted
}
