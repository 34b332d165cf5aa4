package bench

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkSerialLatency times every check of a single caller, auto-pipelining on and off,
// in interleaved rounds, and prints p50 and p99 of each: pipelining must cost a lone caller
// nothing.
func BenchmarkSerialLatency(b *testing.B) {
	on, off := openTK(b, true), openTK(b, false)
	defer on.Close()
	defer off.Close()
	cases := []struct {
		name  string
		check func(key string) error
	}{{"auto-pipeline on", admitted(on)}, {"auto-pipeline off", admitted(off)}}

	const perRound = 20_000
	samples := make([][]time.Duration, len(cases))
	for round := 0; round < rounds(); round++ {
		for i := range cases {
			c := (i + round) % len(cases) // alternate which goes first
			for n := 0; n < perRound; n++ {
				start := time.Now()
				if err := cases[c].check(keys[n%keySpace]); err != nil {
					b.Fatal(err)
				}
				samples[c] = append(samples[c], time.Since(start))
			}
		}
	}
	fmt.Printf("\nSerial Check latency, one caller, %d checks each, interleaved rounds\n", rounds()*perRound)
	fmt.Printf("%-20s %10s %10s\n", "case", "p50", "p99")
	var rows [][]string
	for i, c := range cases {
		slices.Sort(samples[i])
		p := func(q float64) time.Duration { return samples[i][int(q*float64(len(samples[i])-1))] }
		fmt.Printf("%-20s %10s %10s\n", c.name, p(0.50).Round(100*time.Nanosecond), p(0.99).Round(100*time.Nanosecond))
		rows = append(rows, []string{c.name, us(float64(p(0.50))), us(float64(p(0.99)))})
	}
	fmt.Println("target: p50 and p99 with auto-pipelining on no worse than off")
	mdTable(fmt.Sprintf("Redis door: serial Check latency, one caller, %d checks each", rounds()*perRound),
		[]string{"case", "p50", "p99"}, rows)
}
