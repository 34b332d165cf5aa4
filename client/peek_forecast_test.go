package client_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// Peek and Forecast, for each of the five strategies and for the token-budget peek, on a
// cold key, a partly used key, an exhausted key and stale state (written long ago in virtual
// time, but still present in Redis because its TTL, which runs in real time, has not expired).
//
// Every expected value below is worked out by hand from ../shared/spec/lua-contract.md
// (sections of the strategies, "Peek", "Forecast" and "tokenBudget"), never from the scripts;
// the arithmetic sits next to each expectation. N is the clock of the peek / forecast.
// Each case also checks that neither call writes: the raw Redis state of the key is the same
// before and after (and a cold key stays absent).

// pfEpoch (E in the comments) is a realistic epoch-millisecond clock (2023-11-14T22:13:20Z).
const pfEpoch = 1_700_000_000_000

// pfStep is one CheckAt (DebitAt for a token budget) made to bring a key into a state.
type pfStep struct {
	at     int64 // explicit clock
	amount int64 // cost (tokens for a budget)
}

// pfCase is one state of a key, with the expected peek and forecast at clock `at`.
type pfCase struct {
	state    string
	setup    []pfStep // every step must be allowed
	at       int64
	peek     client.Decision
	cost     int64           // forecast request size (0 means 1)
	forecast client.Forecast // unused for a token budget: forecast is unsupported there
}

type pfPolicy struct {
	name   string
	yaml   string
	budget bool
	cases  []pfCase
}

var peekForecastPolicies = []pfPolicy{
	{
		// T = 10000/3 = 3333.33 (emission interval), τ = 5·T = 16666.67, limit reported = burst = 5.
		// A check writes PX ⌈newTat − N⌉ ≤ 16667 real ms.
		name: "gcra",
		yaml: policyYAML(map[string]any{"strategy": "gcra", "limit": 3, "periodMs": 10000, "burst": 5}),
		cases: []pfCase{
			{
				state: "cold",
				at:    pfEpoch,
				// tatE = N: rem = ⌊(τ − 0)/T⌋ = 5, resetAt = ⌈N⌉ = N
				peek: pfAllow(5, 5, pfEpoch),
				cost: 2,
				// k = 5: spendable = ⌊5/2⌋ = 2; tatE ≤ N (full): next = fullAt = N
				forecast: pfForecast(2, pfEpoch, pfEpoch),
			},
			{
				state: "partly-used",
				// tat = 1000 + 2T = 7666.67 (allowAt = 7666.67 − τ = −9000 ≤ 1000)
				setup: []pfStep{pfAt(1000, 2)},
				at:    2000,
				// tatE = 7666.67: rem = ⌊(16666.67 − (7666.67 − 2000))/T⌋ = ⌊11000/3333.33⌋ = ⌊3.3⌋ = 3;
				// resetAt = ⌈7666.67⌉ = 7667
				peek: pfAllow(5, 3, 7667),
				cost: 2,
				// k = 3: spendable = ⌊3/2⌋ = 1; next = ⌈7666.67 − 16666.67 + 4T⌉ = ⌈4333.33⌉ = 4334;
				// fullAt = ⌈tatE⌉ = 7667
				forecast: pfForecast(1, 4334, 7667),
			},
			{
				state: "exhausted",
				// cost 5 = burst at N = E: newTat = E + 5T = E + 16666.67,
				// allowAt = newTat − τ = E (equality allows)
				setup: []pfStep{pfAt(pfEpoch, 5)},
				at:    pfEpoch + 1000,
				// rem = ⌊(τ − (16666.67 − 1000))/T⌋ = ⌊1000/3333.33⌋ = ⌊0.3⌋ = 0 → denied;
				// resetAt = ⌈E + 16666.67⌉ = E + 16667;
				// retry = ⌈tatE + T − τ − N⌉ = ⌈E + 3333.33 − (E + 1000)⌉ = ⌈2333.33⌉ = 2334
				peek: pfDeny(5, 0, pfEpoch+16667, 2334),
				cost: 2,
				// k = 0: spendable 0; next = ⌈tatE − τ + 1·T⌉ = ⌈E + 3333.33⌉ = E + 3334;
				// fullAt = ⌈tatE⌉ = E + 16667
				forecast: pfForecast(0, pfEpoch+3334, pfEpoch+16667),
			},
			{
				state: "stale",
				// tat = 1000 + 3T = 11000, PX 10000 real ms
				setup: []pfStep{pfAt(1000, 3)},
				at:    1_000_000,
				// tatE = max(11000, N) = N: rem = ⌊τ/T⌋ = 5, resetAt = N
				peek: pfAllow(5, 5, 1_000_000),
				cost: 2,
				// spendable = ⌊5/2⌋ = 2; full: next = fullAt = N
				forecast: pfForecast(2, 1_000_000, 1_000_000),
			},
		},
	},
	{
		// r = 3/1000 = 0.003 tokens/ms; a check writes PEXPIRE ⌈10/0.003⌉ = 3334 real ms.
		name: "tokenBucket",
		yaml: policyYAML(map[string]any{"strategy": "tokenBucket", "capacity": 10, "refillPerSec": 3}),
		cases: []pfCase{
			{
				state: "cold",
				at:    1000,
				// tokens = capacity = 10: rem 10, resetAt = N + ⌈0/r⌉ = N
				peek: pfAllow(10, 10, 1000),
				cost: 3,
				// spendable = ⌊10/3⌋ = 3; full: next = fullAt = N
				forecast: pfForecast(3, 1000, 1000),
			},
			{
				state: "partly-used",
				// t = 10 − 7 = 3, l = E
				setup: []pfStep{pfAt(pfEpoch, 7)},
				at:    pfEpoch + 500,
				// tokens = min(10, 3 + 500·0.003) = 4.5: rem ⌊4.5⌋ = 4;
				// resetAt = N + ⌈(10 − 4.5)/0.003⌉ = N + ⌈1833.33⌉ = E + 500 + 1834
				peek: pfAllow(10, 4, pfEpoch+2334),
				cost: 2,
				// spendable = ⌊4.5/2⌋ = 2; next = N + ⌈(4 + 1 − 4.5)/0.003⌉ = N + ⌈166.67⌉ = E + 500 + 167;
				// fullAt = E + 2334
				forecast: pfForecast(2, pfEpoch+667, pfEpoch+2334),
			},
			{
				state: "exhausted",
				// t = 10 − 10 = 0, l = 1000
				setup: []pfStep{pfAt(1000, 10)},
				at:    1100,
				// tokens = 0 + 100·0.003 = 0.3 < 1 → denied, rem ⌊0.3⌋ = 0;
				// resetAt = 1100 + ⌈9.7/0.003⌉ = 1100 + ⌈3233.33⌉ = 4334; retry = ⌈0.7/0.003⌉ = ⌈233.33⌉ = 234
				peek: pfDeny(10, 0, 4334, 234),
				cost: 2,
				// spendable = ⌊0.3/2⌋ = 0; next = 1100 + ⌈(0 + 1 − 0.3)/0.003⌉ = 1100 + 234 = 1334; fullAt = 4334
				forecast: pfForecast(0, 1334, 4334),
			},
			{
				state: "stale",
				// t = 6, l = 1000
				setup: []pfStep{pfAt(1000, 4)},
				at:    1_000_000,
				// tokens = min(10, 6 + 999000·0.003) = 10: rem 10, resetAt = N + ⌈0/r⌉ = N
				peek: pfAllow(10, 10, 1_000_000),
				cost: 4,
				// spendable = ⌊10/4⌋ = 2; full: next = fullAt = N
				forecast: pfForecast(2, 1_000_000, 1_000_000),
			},
		},
	},
	{
		// W = 60000, epoch-aligned. At E + 12345: ws = ⌊1_700_000_012_345/60000⌋·60000
		// = 28_333_333·60000 = E − 20000, R = ws + W = E + 40000.
		// A check writes PEXPIRE ⌈R − N⌉ ≤ 60000 real ms.
		name: "fixedWindow",
		yaml: policyYAML(map[string]any{"strategy": "fixedWindow", "limit": 5, "windowMs": 60000}),
		cases: []pfCase{
			{
				state: "cold",
				at:    pfEpoch + 12_345,
				// count 0: rem = 5, resetAt = ⌈ws + W⌉ = E + 40000
				peek: pfAllow(5, 5, pfEpoch+40_000),
				cost: 2,
				// spendable = ⌊5/2⌋ = 2; next = fullAt = ⌈ws + W⌉ (also for an empty key)
				forecast: pfForecast(2, pfEpoch+40_000, pfEpoch+40_000),
			},
			{
				state: "partly-used",
				// s = 0, c = 2
				setup: []pfStep{pfAt(1000, 2)},
				at:    30_000,
				// ws = 0 = s: count 2, rem = 5 − 2 = 3, resetAt = 0 + 60000
				peek: pfAllow(5, 3, 60_000),
				cost: 0,
				// cost 0 means 1: spendable = ⌊3/1⌋ = 3; next = fullAt = 60000
				forecast: pfForecast(3, 60_000, 60_000),
			},
			{
				state: "exhausted",
				// s = E − 20000, c = 5
				setup: []pfStep{pfAt(pfEpoch+12_345, 5)},
				at:    pfEpoch + 22_345,
				// same window, count 5: 5 + 1 > 5 → denied, rem 0, resetAt = E + 40000,
				// retry = ⌈R − N⌉ = 40000 − 22345 = 17655
				peek: pfDeny(5, 0, pfEpoch+40_000, 17_655),
				cost: 2,
				// avail = max(0, 5 − 5) = 0: spendable 0; next = fullAt = R
				forecast: pfForecast(0, pfEpoch+40_000, pfEpoch+40_000),
			},
			{
				state: "stale",
				// s = 0, c = 4 (PEXPIRE 59000 real ms)
				setup: []pfStep{pfAt(1000, 4)},
				at:    125_000,
				// ws = ⌊125000/60000⌋·60000 = 120000 ≠ s → count 0: rem 5, resetAt = 180000
				peek: pfAllow(5, 5, 180_000),
				cost: 2,
				// spendable = ⌊5/2⌋ = 2; next = fullAt = 180000
				forecast: pfForecast(2, 180_000, 180_000),
			},
		},
	},
	{
		// W = 10000, S = 4: w = 2500, ring of 5 slots; a check writes PEXPIRE ⌈W + w⌉ = 12500 real ms.
		// At E + 1000: c = ⌊N/2500⌋ = 680_000_000 (c·w = E), e = 1000.
		name: "slidingWindow",
		yaml: policyYAML(map[string]any{"strategy": "slidingWindow", "limit": 10, "windowMs": 10000, "buckets": 4}),
		cases: []pfCase{
			{
				state: "cold",
				at:    pfEpoch + 1000,
				// est = 0: rem = ⌊10 − 0⌋ = 10; resetAt = ⌈(c+1)·w + W⌉ = E + 2500 + 10000
				peek: pfAllow(10, 10, pfEpoch+12_500),
				cost: 3,
				// spendable = ⌊10/3⌋ = 3; next = ⌈(c+1)·w⌉ = E + 2500; fullAt = E + 12500
				forecast: pfForecast(3, pfEpoch+2500, pfEpoch+12_500),
			},
			{
				state: "partly-used",
				// at 1000: c = 0, slot 0 = "0:4"; at 6000: c = 2, est = 4, proj = 6 ≤ 10, slot 2 = "2:2"
				setup: []pfStep{pfAt(1000, 4), pfAt(6000, 2)},
				at:    11_000,
				// c = ⌊11000/2500⌋ = 4, e = 1000, weight = (2500 − 1000)/2500 = 0.6;
				// full = Σ count(1..4) = 2, oldest = count(0) = 4, est = 2 + 4·0.6 = 4.4;
				// 5.4 ≤ 10 allowed, rem = ⌊10 − 4.4⌋ = ⌊5.6⌋ = 5, resetAt = ⌈5·2500 + 10000⌉ = 22500
				peek: pfAllow(10, 5, 22_500),
				cost: 2,
				// avail = ⌊5.6⌋ = 5: spendable = ⌊5/2⌋ = 2; next = ⌈5·2500⌉ = 12500; fullAt = 22500
				forecast: pfForecast(2, 12_500, 22_500),
			},
			{
				state: "exhausted",
				// slot c0 = 680_000_000 holds 10
				setup: []pfStep{pfAt(pfEpoch+1000, 10)},
				at:    pfEpoch + 3000,
				// c = c0 + 1 (c·w = E + 2500), e = 500, weight 0.8; full = Σ count(c−3..c) = 10,
				// oldest = count(c−4) = 0, est = 10: 11 > 10 denied, rem = ⌊10 − 10⌋ = 0;
				// resetAt = ⌈(c+1)·w + W⌉ = E + 5000 + 10000;
				// D = 10 + 1 − 10 = 1, oldest = 0 → retry = ⌈(c+1)·w − N⌉ = 5000 − 3000 = 2000
				peek: pfDeny(10, 0, pfEpoch+15_000, 2000),
				cost: 2,
				// avail 0: spendable 0; next = ⌈(c+1)·w⌉ = E + 5000; fullAt = E + 15000
				forecast: pfForecast(0, pfEpoch+5000, pfEpoch+15_000),
			},
			{
				state: "exhausted-by-oldest-bucket",
				// at 1000: c = 0, slot 0 = "0:6"; at 3000: c = 1, est = 6, proj = 10 ≤ 10, slot 1 = "1:4"
				setup: []pfStep{pfAt(1000, 6), pfAt(3000, 4)},
				at:    10_100,
				// c = 4, e = 100, weight = 2400/2500 = 0.96; full = count(1) = 4, oldest = count(0) = 6,
				// est = 4 + 6·0.96 = 9.76: 10.76 > 10 denied, rem = ⌊0.24⌋ = 0, resetAt = 22500;
				// D = 9.76 + 1 − 10 = 0.76 ≤ oldest·weight = 5.76 → retry = ⌈0.76·2500/6⌉ = ⌈316.67⌉ = 317
				peek: pfDeny(10, 0, 22_500, 317),
				cost: 2,
				// avail = max(0, ⌊0.24⌋) = 0: spendable 0; next = ⌈5·2500⌉ = 12500; fullAt = 22500
				forecast: pfForecast(0, 12_500, 22_500),
			},
			{
				state: "stale",
				// slot 0 = "0:7"
				setup: []pfStep{pfAt(1000, 7)},
				at:    1_001_234,
				// c = 400, e = 1234; idx 397..400 live in slots 2, 3, 4, 0, and slot 0 holds idx 0 ≠ 400,
				// idx 396 (oldest) is slot 1, empty: est = 0; rem 10, resetAt = ⌈401·2500 + 10000⌉ = 1012500
				peek: pfAllow(10, 10, 1_012_500),
				cost: 3,
				// spendable = ⌊10/3⌋ = 3; next = ⌈401·2500⌉ = 1002500; fullAt = 1012500
				forecast: pfForecast(3, 1_002_500, 1_012_500),
			},
		},
	},
	{
		// W = 30000; a check writes PEXPIRE 30000 real ms. Live entries: score > N − W.
		name: "slidingWindowLog",
		yaml: policyYAML(map[string]any{"strategy": "slidingWindowLog", "limit": 5, "windowMs": 30000}),
		cases: []pfCase{
			{
				state: "cold",
				at:    pfEpoch,
				// count 0: rem 5, resetAt = ⌈oldestLive + W⌉ with oldestLive = N
				peek: pfAllow(5, 5, pfEpoch+30_000),
				cost: 2,
				// spendable = ⌊5/2⌋ = 2; no live entry: next = fullAt = N
				forecast: pfForecast(2, pfEpoch, pfEpoch),
			},
			{
				state: "partly-used",
				// scores 1000, 5000, 5000
				setup: []pfStep{pfAt(1000, 1), pfAt(5000, 2)},
				at:    20_000,
				// N − W = −10000: 3 live; rem = 5 − 3 = 2, resetAt = ⌈1000 + 30000⌉ = 31000
				peek: pfAllow(5, 2, 31_000),
				cost: 2,
				// spendable = ⌊2/2⌋ = 1; next = ⌈1000 + W⌉ = 31000; fullAt = ⌈5000 + W⌉ = 35000
				forecast: pfForecast(1, 31_000, 35_000),
			},
			{
				state: "exhausted",
				// scores E ×2, E + 4000 ×3
				setup: []pfStep{pfAt(pfEpoch, 2), pfAt(pfEpoch+4000, 3)},
				at:    pfEpoch + 10_000,
				// 5 live: 6 > 5 denied, rem 0, resetAt = ⌈E + W⌉;
				// k = clamp(5 + 1 − 5, 1, 5) = 1, ref = rank 0 = E: retry = ⌈E + 30000 − (E + 10000)⌉ = 20000
				peek: pfDeny(5, 0, pfEpoch+30_000, 20_000),
				cost: 2,
				// spendable 0; next = ⌈E + W⌉; fullAt = ⌈E + 4000 + W⌉
				forecast: pfForecast(0, pfEpoch+30_000, pfEpoch+34_000),
			},
			{
				state: "partly-expired",
				// scores 1000 ×2, 10000 ×3
				setup: []pfStep{pfAt(1000, 2), pfAt(10_000, 3)},
				at:    31_000,
				// N − W = 1000: the two entries at 1000 are expired (inclusive), 3 live at 10000;
				// rem = 5 − 3 = 2, resetAt = ⌈10000 + 30000⌉ = 40000. The expired entries stay in the ZSET.
				peek: pfAllow(5, 2, 40_000),
				cost: 2,
				// spendable = ⌊2/2⌋ = 1; next = fullAt = ⌈10000 + W⌉ = 40000
				forecast: pfForecast(1, 40_000, 40_000),
			},
			{
				state: "stale",
				// scores 1000 ×3
				setup: []pfStep{pfAt(1000, 3)},
				at:    40_000,
				// N − W = 10000 ≥ 1000: no live entry (all still stored); rem 5, resetAt = ⌈N + W⌉ = 70000
				peek: pfAllow(5, 5, 70_000),
				cost: 2,
				// spendable = ⌊5/2⌋ = 2; no live entry: next = fullAt = N
				forecast: pfForecast(2, 40_000, 40_000),
			},
		},
	},
	{
		// L = 100 per epoch-aligned W = 60000; at E + 12345, w = E − 20000 and R = E + 40000
		// (see fixedWindow). A debit writes PEXPIRE ⌈w + W − N⌉ ≤ 60000 real ms.
		// Forecast is unsupported for budgets.
		name:   "tokenBudget",
		yaml:   budgetYAML(100, 60000),
		budget: true,
		cases: []pfCase{
			{
				state: "cold",
				at:    pfEpoch + 12_345,
				// s = 0 < 100: rem 100, resetAt = ⌈w + W⌉ = E + 40000
				peek: pfAllow(100, 100, pfEpoch+40_000),
			},
			{
				state: "partly-used",
				// w = 0, s = 30 + 25 = 55
				setup: []pfStep{pfAt(1000, 30), pfAt(2000, 25)},
				at:    30_000,
				// 30000 < w + W: no roll; 55 < 100, rem = 100 − 55 = 45, resetAt = 60000
				peek: pfAllow(100, 45, 60_000),
			},
			{
				state: "exhausted",
				// s = 70, then 70 < 100 so 50 is counted in full: s = 120
				setup: []pfStep{pfAt(pfEpoch+12_345, 70), pfAt(pfEpoch+13_345, 50)},
				at:    pfEpoch + 17_345,
				// 120 ≥ 100 denied, rem = max(0, 100 − 120) = 0, resetAt = E + 40000,
				// retry = ⌈R − N⌉ = 40000 − 17345 = 22655
				peek: pfDeny(100, 0, pfEpoch+40_000, 22_655),
			},
			{
				state: "exhausted-at-budget",
				// w = 0, s = 100
				setup: []pfStep{pfAt(1000, 100)},
				at:    59_999,
				// 59999 < w + W: no roll; 100 ≥ 100 denied, rem 0, resetAt 60000, retry = ⌈60000 − 59999⌉ = 1
				peek: pfDeny(100, 0, 60_000, 1),
			},
			{
				state: "stale",
				// w = 0, s = 100
				setup: []pfStep{pfAt(1000, 100)},
				at:    60_000,
				// N ≥ w + W = 60000: rolls (without writing) to w = 60000, s = 0;
				// rem 100, resetAt = ⌈60000 + 60000⌉ = 120000
				peek: pfAllow(100, 100, 120_000),
			},
		},
	},
}

func TestPeekForecast(t *testing.T) {
	rdb := testenv.Client(t)
	for _, pol := range peekForecastPolicies {
		t.Run(pol.name, func(t *testing.T) {
			b, ns := openBackend(t, pol.yaml)
			for _, tc := range pol.cases {
				t.Run(tc.state, func(t *testing.T) {
					key := tc.state
					redisKey := ns + ":p:" + key
					pfBringToState(t, b, pol.budget, key, tc.setup)
					before := pfSnapshotKey(t, rdb, redisKey)
					if len(tc.setup) == 0 && before.typ != "none" {
						t.Fatalf("cold key %q exists before the peek: %s", redisKey, before)
					}
					if len(tc.setup) > 0 && (before.typ == "none" || !before.hasTTL) {
						t.Fatalf("setup left no live state with a TTL at %q: %s", redisKey, before)
					}

					t.Run("peek", func(t *testing.T) {
						got, err := b.PeekAt(ctx, "p", key, tc.at)
						if err != nil {
							t.Fatalf("PeekAt(%d): %v", tc.at, err)
						}
						// The window is the policy's (TestDecisionsReportThePolicyWindow); the
						// cases pin the five fields of the contract.
						if got.WindowMs <= 0 {
							t.Errorf("PeekAt(%d): window %d, want the policy's", tc.at, got.WindowMs)
						}
						got.WindowMs = 0
						if got != tc.peek {
							t.Errorf("PeekAt(%d):\n got  %s\n want %s", tc.at, show(got), show(tc.peek))
						}
						pfRequireUnchanged(t, rdb, redisKey, before, "peek")
					})

					t.Run("forecast", func(t *testing.T) {
						got, err := b.ForecastAt(ctx, "p", key, tc.cost, tc.at)
						if pol.budget {
							if !errors.Is(err, client.ErrUnsupported) {
								t.Errorf("ForecastAt on a token budget: got %+v, err %v; want an ErrUnsupported error", got, err)
							}
						} else {
							if err != nil {
								t.Fatalf("ForecastAt(cost %d, %d): %v", tc.cost, tc.at, err)
							}
							if got != tc.forecast {
								t.Errorf("ForecastAt(cost %d, %d):\n got  %s\n want %s",
									tc.cost, tc.at, pfShowForecast(got), pfShowForecast(tc.forecast))
							}
						}
						pfRequireUnchanged(t, rdb, redisKey, before, "forecast")
					})
				})
			}
		})
	}
}

// pfBringToState runs the setup steps (CheckAt, or DebitAt for a budget), each of which must be
// allowed: a denied step would mean the key is not in the state the case describes.
func pfBringToState(t *testing.T, b *client.RedisBackend, budget bool, key string, steps []pfStep) {
	t.Helper()
	for i, s := range steps {
		var d client.Decision
		var err error
		if budget {
			d, err = b.DebitAt(ctx, "p", key, s.amount, s.at)
		} else {
			d, err = b.CheckAt(ctx, "p", key, s.amount, s.at)
		}
		if err != nil {
			t.Fatalf("setup step %d (amount %d at %d): %v", i, s.amount, s.at, err)
		}
		if !d.Allowed {
			t.Fatalf("setup step %d (amount %d at %d) was denied: %s", i, s.amount, s.at, show(d))
		}
	}
}

// pfSnapshot is the raw Redis state of one key. The TTL is kept only as "has one", since
// PTTL ticks in real time.
type pfSnapshot struct {
	typ    string // TYPE: none, string, hash or zset
	value  string // GET, HGETALL (sorted by field) or ZRANGE 0 -1 WITHSCORES, rendered
	hasTTL bool
}

func (s pfSnapshot) String() string {
	return fmt.Sprintf("{type:%s value:%s hasTTL:%v}", s.typ, s.value, s.hasTTL)
}

func pfSnapshotKey(t *testing.T, rdb *redis.Client, key string) pfSnapshot {
	t.Helper()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatalf("TYPE %s: %v", key, err)
	}
	s := pfSnapshot{typ: typ}
	switch typ {
	case "none":
		return s
	case "string":
		v, err := rdb.Get(ctx, key).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		s.value = v
	case "hash":
		m, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatalf("HGETALL %s: %v", key, err)
		}
		s.value = fmt.Sprint(m) // fmt prints map keys sorted
	case "zset":
		zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			t.Fatalf("ZRANGE %s 0 -1 WITHSCORES: %v", key, err)
		}
		pairs := make([]string, len(zs))
		for i, z := range zs {
			pairs[i] = fmt.Sprintf("%v=%s", z.Member, strconv.FormatFloat(z.Score, 'f', -1, 64))
		}
		s.value = strings.Join(pairs, " ")
	default:
		t.Fatalf("key %s has unexpected type %q", key, typ)
	}
	pttl, err := rdb.Do(ctx, "PTTL", key).Int64()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	s.hasTTL = pttl > 0
	return s
}

// pfRequireUnchanged fails unless the key's raw state is what it was before `op`.
func pfRequireUnchanged(t *testing.T, rdb *redis.Client, key string, before pfSnapshot, op string) {
	t.Helper()
	after := pfSnapshotKey(t, rdb, key)
	if after != before {
		t.Errorf("%s wrote to %s:\n before %s\n after  %s", op, key, before, after)
	}
}

func pfShowForecast(f client.Forecast) string {
	return fmt.Sprintf("{spendableNow:%d nextReplenishAt:%d fullAt:%d}", f.SpendableNow, f.NextReplenishAt, f.FullAt)
}

func pfAt(at, amount int64) pfStep { return pfStep{at: at, amount: amount} }

func pfAllow(limit, remaining, resetAt int64) client.Decision {
	return client.Decision{Allowed: true, Limit: limit, Remaining: remaining, ResetAt: resetAt}
}

func pfDeny(limit, remaining, resetAt, retryAfterMs int64) client.Decision {
	return client.Decision{Limit: limit, Remaining: remaining, ResetAt: resetAt, RetryAfterMs: retryAfterMs}
}

func pfForecast(spendable, nextReplenishAt, fullAt int64) client.Forecast {
	return client.Forecast{SpendableNow: spendable, NextReplenishAt: nextReplenishAt, FullAt: fullAt}
}
