package monitor

import (
	"strconv"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
)

// What a check pays for being monitored: one Record of one decision, from parallel callers
// over 10,000 keys (a denial every fourth call, with one Watch stream open).
func BenchmarkRecord(b *testing.B) {
	m := New(Options{})
	w, err := m.Subscribe("")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	keys := make([][]string, 10_000)
	for i := range keys {
		keys[i] = []string{"user-" + strconv.Itoa(i)}
	}
	allowed, denied := []client.Decision{allow(10, 5)}, []client.Decision{deny(10, 100)}
	at := time.Now() // the caller's instant: Record reads no clock
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ds := allowed
			if i%4 == 0 {
				ds = denied
			}
			m.Record("api", keys[i%len(keys)], ds, at, 300*time.Microsecond)
			i++
		}
	})
}
