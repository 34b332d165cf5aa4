package engine

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
)

// The embedded engine's keyspace: Redis's data model for the three types the scripts use,
// split into shards so that scripts on different keys run in parallel while a script holds
// its key's shard for its whole run (what Redis's single thread gives every script).

const engineShards = 256

type valueKind uint8

const (
	kindString valueKind = iota + 1
	kindHash
	kindZset
)

func (k valueKind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindHash:
		return "hash"
	case kindZset:
		return "zset"
	}
	return "none"
}

// entry is one key's value. Only the field of its kind is set.
type entry struct {
	expireAt int64 // engine-clock epoch ms after which the key is gone; 0 = no TTL
	size     int64 // the bytes keyspace.bytes counts for this key (see footprint)
	kind     valueKind
	str      string
	hash     *hashValue
	zset     *zsetValue
}

// What an entry holds, in heap bytes, for the byte cap. The constants were measured once
// with runtime.MemStats on amd64 (TestEngineByteEstimateMatchesTheHeap logs the heap's
// growth against the count: 0.87 to 1.06 for strings, hashes and sorted sets): a key's map
// slot (string header, pointer, control byte, at a Swiss map's load) and its entry
// (64-byte size class) come to about 110 bytes; a hash or a sorted set adds its header and
// its slice's capacity; an index map costs about 80 bytes per field or member.
const (
	entryOverhead  = 112
	stringHeader   = 16 // one element of hashValue.pairs
	hashOverhead   = 48 // hashValue (pairs slice, index pointer) in its size class
	zsetOverhead   = 48 // zsetValue
	zitemBytes     = 24 // one element of zsetValue.items: score and member header
	indexEntrySize = 80 // one key of a hash's or a sorted set's index map
)

// stringBytes is what a string of n bytes occupies on the heap: n rounded up as Go's
// size classes round an allocation (to 16 bytes up to 128, then to an eighth of the power
// of two above n, never below the class Go picks and at most 12.5% over it).
func stringBytes(n int) int64 {
	if n <= 128 {
		return int64((n + 15) &^ 15)
	}
	step := 1<<(bits.Len(uint(n-1))-3) - 1
	return int64((n + step) &^ step)
}

// footprint is the bytes an entry stored under a key of keyLen bytes holds. It is O(1):
// hashes and sorted sets keep the sum of their strings' sizes as they change.
func (e *entry) footprint(keyLen int) int64 {
	n := entryOverhead + stringBytes(keyLen)
	switch e.kind {
	case kindString:
		n += stringBytes(len(e.str))
	case kindHash:
		h := e.hash
		n += hashOverhead + int64(cap(h.pairs))*stringHeader + h.strBytes + int64(len(h.index))*indexEntrySize
	case kindZset:
		z := e.zset
		n += zsetOverhead + int64(cap(z.items))*zitemBytes + z.memberBytes + int64(len(z.index))*indexEntrySize
	}
	return n
}

// expired is Redis's rule: a key lives through the millisecond its TTL names.
func (e *entry) expired(nowMs int64) bool {
	return e.expireAt != 0 && nowMs > e.expireAt
}

// hashValue keeps fields in insertion order (as Redis's small-hash listpack encoding
// does). The scripts' hashes have 2 fields, or buckets+1 for the sliding window, so a scan
// is the fast path; past hashIndexAt fields a map takes over the lookups.
type hashValue struct {
	pairs    []string // field, value, field, value, ...
	index    map[string]int
	strBytes int64 // stringBytes of every field and value in pairs
}

const hashIndexAt = 16

func (h *hashValue) find(field string) int {
	if h.index != nil {
		if i, ok := h.index[field]; ok {
			return i
		}
		return -1
	}
	for i := 0; i < len(h.pairs); i += 2 {
		if h.pairs[i] == field {
			return i
		}
	}
	return -1
}

func (h *hashValue) get(field string) (string, bool) {
	if i := h.find(field); i >= 0 {
		return h.pairs[i+1], true
	}
	return "", false
}

// set stores a field and reports whether it is new.
func (h *hashValue) set(field, value string) bool {
	if i := h.find(field); i >= 0 {
		h.strBytes += stringBytes(len(value)) - stringBytes(len(h.pairs[i+1]))
		h.pairs[i+1] = value
		return false
	}
	h.pairs = append(h.pairs, field, value)
	h.strBytes += stringBytes(len(field)) + stringBytes(len(value))
	switch {
	case h.index != nil:
		h.index[field] = len(h.pairs) - 2
	case len(h.pairs)/2 > hashIndexAt:
		h.index = make(map[string]int, len(h.pairs))
		for i := 0; i < len(h.pairs); i += 2 {
			h.index[h.pairs[i]] = i
		}
	}
	return true
}

// shard is one lock and the keys hashing to it.
type shard struct {
	mu   sync.Mutex
	keys map[string]*entry
	// peak is the most keys the map has held since it was last rebuilt: Go maps never
	// shrink, so the sweeper rebuilds one that emptied out (see maybeShrink).
	peak int
	_    [40]byte // keeps neighbouring shards' locks off one cache line
}

// keyspace is every key of one engine, with the counters Stats reports.
type keyspace struct {
	shards   [engineShards]shard
	seed     maphash.Seed
	maxKeys  int64
	maxBytes int64
	closed   atomic.Bool

	live      atomic.Int64
	bytes     atomic.Int64 // the sum of the held entries' sizes
	expired   atomic.Int64
	evictions atomic.Int64

	evictCursor atomic.Uint32

	meters meterCaps // the meter policies' own key caps (maxKeys)
}

func newKeyspace(maxKeys, maxBytes int64) *keyspace {
	ks := &keyspace{seed: maphash.MakeSeed(), maxKeys: maxKeys, maxBytes: maxBytes}
	for i := range ks.shards {
		ks.shards[i].keys = make(map[string]*entry)
	}
	return ks
}

func (ks *keyspace) shardFor(key string) *shard {
	return &ks.shards[ks.shardIndex(key)]
}

func (ks *keyspace) shardIndex(key string) int {
	return int(maphash.String(ks.seed, key) % engineShards)
}

// lookup returns key's live entry (nil if absent), reclaiming it if it expired: Redis's
// lazy expiry on access. The shard must be locked.
func (ks *keyspace) lookup(sh *shard, key string, nowMs int64) *entry {
	e := sh.keys[key]
	if e != nil && e.expired(nowMs) {
		ks.remove(sh, key, e)
		ks.expired.Add(1)
		return nil
	}
	return e
}

// insert adds a new key; the shard must be locked. Its size is counted now and kept
// current by resize.
func (ks *keyspace) insert(sh *shard, key string, e *entry) {
	sh.keys[key] = e
	ks.meters.added(key)
	ks.live.Add(1)
	e.size = e.footprint(len(key))
	ks.bytes.Add(e.size)
	if n := len(sh.keys); n > sh.peak {
		sh.peak = n
	}
}

// resize counts the change in a held entry's size after a write; the shard must be locked.
func (ks *keyspace) resize(key string, e *entry) {
	if n := e.footprint(len(key)); n != e.size {
		ks.bytes.Add(n - e.size)
		e.size = n
	}
}

// remove drops key, whose entry is e; the shard must be locked.
func (ks *keyspace) remove(sh *shard, key string, e *entry) {
	delete(sh.keys, key)
	ks.meters.removed(key)
	ks.live.Add(-1)
	ks.bytes.Add(-e.size)
}

// overCap tells whether the keyspace holds more keys or bytes than its caps allow.
func (ks *keyspace) overCap() bool {
	return ks.live.Load() > ks.maxKeys || ks.bytes.Load() > ks.maxBytes
}

// maybeShrink rebuilds a shard's map once it holds a quarter of its peak: deleting from a
// Go map frees the values but never the map's own slots, and a burst of a million
// short-lived keys would otherwise pin their slots forever. Each rebuild copies at most a
// quarter of the keys the map lost since the last one, so the cost stays proportional to
// the deletions. The shard must be locked.
func (sh *shard) maybeShrink() {
	const minPeak = 64
	if sh.peak < minPeak || len(sh.keys) > sh.peak/4 {
		return
	}
	m := make(map[string]*entry, len(sh.keys))
	for k, e := range sh.keys {
		m[k] = e
	}
	sh.keys, sh.peak = m, len(m)
}

// evictionSample is how many keys one eviction compares, like Redis's maxmemory-samples.
const evictionSample = 5

// enforceCap evicts until at most maxKeys keys and maxBytes bytes remain. It runs after a
// script, with no lock held, so the counts can pass the caps by what the scripts writing
// at that instant add, and come back under them as each finishes.
func (ks *keyspace) enforceCap(nowMs int64) {
	for ks.overCap() {
		if !ks.evictOne(nowMs) {
			return
		}
	}
}

// evictOne removes one key from the next non-empty shard: an expired one if the sample
// holds one, else the one closest to expiry (approximately the least useful: our keys all
// carry TTLs, and the nearest expiry is the state that matters least for the longest).
func (ks *keyspace) evictOne(nowMs int64) bool {
	for tries := 0; tries < engineShards; tries++ {
		sh := &ks.shards[ks.evictCursor.Add(1)%engineShards]
		sh.mu.Lock()
		if ks.closed.Load() {
			sh.mu.Unlock()
			return false
		}
		victim, victimEntry, best, n := "", (*entry)(nil), int64(math.MaxInt64), 0
		for k, e := range sh.keys {
			if e.expired(nowMs) {
				ks.remove(sh, k, e)
				ks.expired.Add(1)
				sh.mu.Unlock()
				return true
			}
			at := e.expireAt
			if at == 0 {
				at = math.MaxInt64
			}
			if n == 0 || at < best {
				victim, victimEntry, best = k, e, at
			}
			if n++; n == evictionSample {
				break
			}
		}
		if n > 0 {
			ks.remove(sh, victim, victimEntry)
			ks.evictions.Add(1)
			sh.mu.Unlock()
			return true
		}
		sh.mu.Unlock()
	}
	return false
}

// free drops every key, for Close; later scripts see the keyspace closed.
func (ks *keyspace) free() {
	ks.closed.Store(true)
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		ks.live.Add(-int64(len(sh.keys)))
		for _, e := range sh.keys {
			ks.bytes.Add(-e.size)
		}
		sh.keys, sh.peak = nil, 0
		sh.mu.Unlock()
	}
}

// del removes a field and reports whether it was there. The others keep their order, as in
// Redis's listpack encoding.
func (h *hashValue) del(field string) bool {
	i := h.find(field)
	if i < 0 {
		return false
	}
	h.strBytes -= stringBytes(len(h.pairs[i])) + stringBytes(len(h.pairs[i+1]))
	n := len(h.pairs)
	h.pairs = append(h.pairs[:i], h.pairs[i+2:]...)
	clear(h.pairs[len(h.pairs):n]) // the moved tail's old slots: let their strings go
	if h.index != nil {
		delete(h.index, field)
		for j := i; j < len(h.pairs); j += 2 {
			h.index[h.pairs[j]] = j
		}
	}
	return true
}
