package twotier

import (
	"context"
	"testing"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// BenchmarkLeasedHit: checks answered from local credits, all goroutines on one key.
func BenchmarkLeasedHit(b *testing.B) {
	d, _ := overEngineTB(b, "limiters:\n  g: { strategy: fixedWindow, limit: 1000000000000000, period: 1h, twoTier: { batch: 1000 } }\n", Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Decide(context.Background(), front.OpCheck, "g", "k", 1, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
