package front

import (
	"context"
	"errors"
	"strconv"
)

// CheckItem is one entry of an all-or-nothing check: a policy, a key and a cost.
type CheckItem struct {
	Policy string
	Key    string
	Cost   int64
	// Shadow treats the item as a shadow policy's whatever its policy says: its denial is
	// admitted, flagged, and refuses no other item (a server's or handle's shadow switch).
	Shadow bool
}

// AllAllowed reports whether every decision allows.
func AllAllowed(ds []Decision) bool {
	for _, d := range ds {
		if !d.Allowed {
			return false
		}
	}
	return true
}

// DecideAll checks every item at one instant; when all allow, all are consumed, and when any
// denies, none is (see Door). It runs the batch script in mode all: one atomic run.
func (b *Scripted) DecideAll(ctx context.Context, items []CheckItem, nowMs int64) ([]Decision, error) {
	batch, err := b.prepareAll(items, nowMs)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return []Decision{}, nil
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	replies, err := b.runner.RunBatch(ctx, batch, nowMs, BatchAll)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(replies))
	for i, r := range replies {
		if out[i], err = checkDecision(batch[i].Shadow, batch[i].Call, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ValidateItems answers what DecideAll would about the items themselves (unknown policy, a
// meter, a bad key or cost) without running anything, so that an asynchronous caller hears of
// its own mistakes at once.
func (b *Scripted) ValidateItems(items []CheckItem) error {
	_, err := b.prepareAll(items, 0)
	return err
}

// PrepareItems is ValidateItems that also returns the batch DecideAll would run.
func (b *Scripted) PrepareItems(items []CheckItem) ([]BatchItem, error) {
	return b.prepareAll(items, 0)
}

func (b *Scripted) prepareAll(items []CheckItem, nowMs int64) ([]BatchItem, error) {
	batch := make([]BatchItem, len(items))
	for i, it := range items {
		pp, call, cost, err := b.resolve(OpCheck, it.Policy, it.Cost, nowMs)
		if err == nil {
			err = ValidateKey(it.Key)
		}
		if err != nil {
			return nil, ItemError(i, err)
		}
		batch[i] = BatchItem{Call: call.forKey(it.Key), Key: pp.p.RedisKey(b.namespace, it.Key), Amount: cost, Shadow: pp.p.Shadow || it.Shadow}
	}
	return batch, nil
}

// ItemError names the entry an error is about, keeping its kind.
func ItemError(i int, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Kind: e.Kind, Msg: "items[" + strconv.Itoa(i) + "]: " + e.Msg, Cause: e.Cause}
	}
	return err
}
