package federation_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/federation"
)

// Tier-1 checks against a real Redis, batch 1000: nearly all are answered from the balance
// (one LEASE per 1000 checks of a key), in parallel on one key and on 64 keys.
func BenchmarkTier1Check(b *testing.B) {
	for _, keys := range []int{1, 64} {
		b.Run(strconv.Itoa(keys)+"keys", func(b *testing.B) {
			_, rdb := ownRedis(b)
			p := fedPolicy(b, "{ strategy: fixedWindow, limit: 1000000000, period: 1h, federated: { batch: 1000 } }")
			tier := newTier1(rdb, federation.Options{})
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := tier.Check(context.Background(), p, strconv.Itoa(i%keys), 1, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
