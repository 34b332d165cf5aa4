package engine

import (
	"slices"
)

// lockShards locks the shards of keys, each once, in index order (the order every run with
// several keys takes, so that two runs never wait for each other's locks), and returns them.
func (st *luaState) lockShards(ks *keyspace, keys []string) []*shard {
	idx := st.shardIdx[:0]
	for _, k := range keys {
		idx = append(idx, ks.shardIndex(k))
	}
	if len(idx) > 1 {
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	locked := st.locked[:0]
	for _, i := range idx {
		sh := &ks.shards[i]
		sh.mu.Lock()
		locked = append(locked, sh)
	}
	st.shardIdx, st.locked = idx, locked
	return locked
}

func unlock(locked []*shard) {
	for _, sh := range locked {
		sh.mu.Unlock()
	}
}
