package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/testenv/golden"
)

// QuotaRedisStore is the part of a golden.QuotaRunner that sees one key in Redis: its raw
// state, a write, and the expiry handling of a store whose TTLs run on real time (see
// golden.QuotaRunner). The caller adds Check, Peek and Forecast through the door under test.
func QuotaRedisStore(tb testing.TB, rdb *redis.Client, key string) golden.QuotaRunner {
	ctx := context.Background()
	set := func(st golden.QuotaState, ttl time.Duration) error {
		_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			if len(st.Hash) > 0 {
				p.HSet(ctx, key, st.Hash)
				p.PExpire(ctx, key, ttl)
			}
			return nil
		})
		return err
	}
	return golden.QuotaRunner{
		State: func(int64) (*golden.QuotaState, error) {
			var hash *redis.MapStringStringCmd
			var ttl *redis.DurationCmd
			// One transaction, so the hash and its TTL are read at one instant.
			if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				hash = p.HGetAll(ctx, key)
				ttl = p.PTTL(ctx, key)
				return nil
			}); err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			if len(hash.Val()) == 0 {
				return nil, nil
			}
			return &golden.QuotaState{Hash: hash.Val(), TTL: ttl.Val().Milliseconds()}, nil
		},
		Write: func(_ int64, st golden.QuotaState) error {
			return set(st, time.Duration(st.TTL)*time.Millisecond)
		},
		RealTimeTTL: true,
		TTLSlack:    2000,
		Expire:      func() error { return rdb.Del(ctx, key).Err() },
		Pin:         func(st golden.QuotaState) error { return set(st, time.Hour) },
	}
}
