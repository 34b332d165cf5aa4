package redisdoor

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/keyslot"
)

// RunBatch runs the items through the batch script: one run for a single node or Sentinel,
// one per slot on a Cluster (Redis runs a script on one shard only), sent in one pipeline.
func (r *runner) RunBatch(ctx context.Context, items []front.BatchItem, nowMs int64, mode string) ([]any, error) {
	groups := r.slotGroups(items)
	if len(groups) > 1 && mode == front.BatchAll {
		return nil, errSlots(len(groups))
	}
	if nowMs == 0 && (len(groups) > 1 || r.isCluster()) {
		// One instant for every run, and for the key-by-key runs of a migrating slot.
		var err error
		if nowMs, err = r.Now(ctx); err != nil {
			return nil, err
		}
	}
	args := make([][]any, len(groups))
	for g, idx := range groups {
		args[g] = batchCommand(pick(items, idx), nowMs, mode)
	}
	cmds := pipelineScripts(ctx, r.rdb, args, func(int) string { return front.BatchScript.Source })
	replies := make([]any, len(items))
	for g, c := range cmds {
		group := pick(items, groups[g])
		reply, err := c.Result()
		var split []any
		if err == nil {
			if split, err = front.SplitBatchReply(reply, group); err != nil {
				return nil, err
			}
		} else if migrating(err) && mode == front.BatchEach {
			r.refreshTopology(err)
			split, err = r.runEach(ctx, group, nowMs)
		}
		if err != nil && migrating(err) {
			r.refreshTopology(err)
			return nil, front.NewError(front.ErrUnavailable, "redis: the slot of the batch's keys is moving between Cluster nodes (retry): %v", err)
		}
		if err != nil {
			return nil, r.failure(ctx, err)
		}
		for j, rep := range split {
			replies[index(groups[g], j)] = rep
		}
	}
	return replies, nil
}

// ValidateItems is front.Scripted's, plus the Cluster rule of an all-or-nothing call: its keys
// must share one slot.
func (b *Backend) ValidateItems(items []front.CheckItem) error {
	batch, err := b.PrepareItems(items)
	if err != nil {
		return err
	}
	if groups := b.runner.slotGroups(batch); len(groups) > 1 {
		return errSlots(len(groups))
	}
	return nil
}

func errSlots(n int) error {
	return front.NewError(front.ErrInvalidArgument,
		"the keys of an all-or-nothing check span %d Cluster slots: on a Cluster they must share one slot (give them one hash tag, e.g. {user42}:ip and {user42}:day)", n)
}

// migrating tells whether a batch failed because its slot is moving between nodes: Redis
// refuses a multi-key script whose keys are not all on one side (TRYAGAIN), and go-redis
// gives up on the redirections (ASK, MOVED) a batch can meet while the slot moves.
func migrating(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "TRYAGAIN") || strings.HasPrefix(msg, "ASK ") || strings.HasPrefix(msg, "MOVED ")
}

// runEach runs the items one check script each (in one pipeline): what a slot in migration
// allows, each check atomic on its own key (docs/redis-keys.md, "Batches").
func (r *runner) runEach(ctx context.Context, items []front.BatchItem, nowMs int64) ([]any, error) {
	args := make([][]any, len(items))
	for i, it := range items {
		args[i] = it.Call.Args(it.Key, nowMs, it.Amount)
	}
	cmds := pipelineScripts(ctx, r.rdb, args, func(i int) string { return items[i].Call.Script.Source })
	out := make([]any, len(cmds))
	for i, c := range cmds {
		reply, err := c.Result()
		if err != nil {
			return nil, err
		}
		out[i] = reply
	}
	return out, nil
}

func (r *runner) isCluster() bool {
	_, ok := r.rdb.(*redis.ClusterClient)
	return ok
}

// slotGroups lists the items' indexes by the run that takes them, in order: one group, nil
// for "every item", unless the client is a Cluster's (a group per slot, in order of first
// appearance).
func (r *runner) slotGroups(items []front.BatchItem) [][]int {
	if !r.isCluster() || len(items) < 2 {
		return [][]int{nil}
	}
	var groups [][]int
	bySlot := map[int]int{}
	for i, it := range items {
		s := keyslot.Of(it.Key)
		g, ok := bySlot[s]
		if !ok {
			g = len(groups)
			bySlot[s] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// pick is the items at idx (nil: all of them).
func pick(items []front.BatchItem, idx []int) []front.BatchItem {
	if idx == nil {
		return items
	}
	sub := make([]front.BatchItem, len(idx))
	for j, i := range idx {
		sub[j] = items[i]
	}
	return sub
}

// index is the position in the whole batch of a group's j-th item.
func index(idx []int, j int) int {
	if idx == nil {
		return j
	}
	return idx[j]
}

// batchCommand is the EVALSHA of the batch script for items.
func batchCommand(items []front.BatchItem, nowMs int64, mode string) []any {
	keys, argv := front.BatchArgs(items, nowMs, mode)
	cmd := make([]any, 0, 3+len(keys)+len(argv))
	cmd = append(cmd, "evalsha", front.BatchScript.SHA1, len(keys))
	for _, k := range keys {
		cmd = append(cmd, k)
	}
	return append(cmd, argv...)
}
