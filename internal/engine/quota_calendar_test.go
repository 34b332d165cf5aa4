package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// The quota scripts' period arithmetic (quota.md section 2), run by the embedded Lua engine
// and compared with Go's time package, an independent implementation of the proleptic
// Gregorian calendar: every day of ±550 years around the epoch at every week start, every
// offset the policy file allows (-840..840 minutes, one minute apart) around the dates a
// reader worries about, and a sweep far into negative years. The Lua is the very block the
// three quota scripts share, cut out of quota.check.lua and driven by a small loop.

const dayMs = 86_400_000

// Cadence modes on the wire.
const (
	modeMonth = 1
	modeWeek  = 2
	modeDay   = 3
)

// periodProbe runs the shared period block on many instants at once: ARGV mode, offsetMs,
// weekStartsOn, then the instants; it returns start and reset for each.
func periodProbe(t *testing.T) string {
	t.Helper()
	s, ok := luascripts.Lookup("quota", luascripts.RoleCheck)
	if !ok {
		t.Fatal("quota.check missing")
	}
	const begin, end = "-- quota period: begin", "-- quota period: end"
	i, j := strings.Index(s.Source, begin), strings.Index(s.Source, end)
	if i < 0 || j < i {
		t.Fatal("quota.check.lua has no period block")
	}
	return s.Source[i:j+len(end)] + `
local mode, offsetMs, weekStartsOn = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local s, e = periodOf(tonumber(ARGV[i]), mode, 0, 0, offsetMs, weekStartsOn)
  out[#out + 1] = s
  out[#out + 1] = e
end
return out
`
}

// periodByTime is the period holding instant n, by Go's calendar at a fixed offset.
func periodByTime(n int64, mode int, offsetMs int64, weekStartsOn int) (start, reset int64) {
	zone := time.FixedZone("", int(offsetMs/1000))
	t := time.UnixMilli(n).In(zone)
	y, m, d := t.Date()
	switch mode {
	case modeDay:
		return time.Date(y, m, d, 0, 0, 0, 0, zone).UnixMilli(), time.Date(y, m, d+1, 0, 0, 0, 0, zone).UnixMilli()
	case modeWeek:
		back := (int(t.Weekday()) - weekStartsOn + 7) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, zone).UnixMilli(), time.Date(y, m, d-back+7, 0, 0, 0, 0, zone).UnixMilli()
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, zone).UnixMilli(), time.Date(y, m+1, 1, 0, 0, 0, 0, zone).UnixMilli()
}

// comparePeriods runs the probe on instants and compares every answer with Go's.
func comparePeriods(t *testing.T, e *testEngine, probe string, mode int, offsetMs int64, weekStartsOn int, instants []int64) {
	t.Helper()
	argv := []string{strconv.Itoa(mode), strconv.FormatInt(offsetMs, 10), strconv.Itoa(weekStartsOn)}
	for _, n := range instants {
		argv = append(argv, strconv.FormatInt(n, 10))
	}
	reply, err := e.EvalForTest(ctx, probe, nil, argv...)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	got, ok := reply.([]any)
	if !ok || len(got) != 2*len(instants) {
		t.Fatalf("probe returned %T of length %d for %d instants", reply, len(got), len(instants))
	}
	failures := 0
	for i, n := range instants {
		start, reset := periodByTime(n, mode, offsetMs, weekStartsOn)
		if got[2*i] != start || got[2*i+1] != reset {
			t.Errorf("mode %d, offset %d ms, week from %d: instant %d (%s) is in [%v, %v) by the script, [%d, %d) by Go (%s .. %s)",
				mode, offsetMs, weekStartsOn, n, time.UnixMilli(n).UTC().Format(time.RFC3339Nano), got[2*i], got[2*i+1], start, reset,
				time.UnixMilli(start).UTC().Format(time.RFC3339), time.UnixMilli(reset).UTC().Format(time.RFC3339))
			if failures++; failures == 10 {
				t.Fatal("too many differences")
			}
		}
		if !(start <= n && n < reset) {
			t.Fatalf("instant %d outside its own period [%d, %d)", n, start, reset)
		}
	}
}

// inChunks calls f on consecutive slices of at most size instants.
func inChunks(instants []int64, size int, f func([]int64)) {
	for len(instants) > 0 {
		n := min(size, len(instants))
		f(instants[:n])
		instants = instants[n:]
	}
}

// Every day of ±550 years (1420 to 2520) in UTC, each at one instant (its first millisecond,
// its last, or one that wanders through the day, in turn): months (every length, every leap
// day, the century years 1500..2500), days, and weeks, the week start turning every seven days
// so that each weekday meets each of the seven week starts every 49 days.
func TestQuotaCalendarEveryDay(t *testing.T) {
	e := openEngine(t, "limiters:\n  q: { strategy: quota, limit: 1, resetCadence: calendar-day }\n", engine.Options{})
	probe := periodProbe(t)
	first := time.Date(1420, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() / dayMs
	last := time.Date(2520, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli() / dayMs
	var instants []int64
	weekStart := map[int][]int64{}
	for z := first; z <= last; z++ {
		n := z * dayMs
		switch ((z % 3) + 3) % 3 {
		case 1:
			n += ((z*7_919_993)%dayMs + dayMs) % dayMs
		case 2:
			n += dayMs - 1
		}
		instants = append(instants, n)
		s := int(((z/7)%7 + 7) % 7)
		weekStart[s] = append(weekStart[s], n)
	}
	inChunks(instants, 30_000, func(chunk []int64) {
		comparePeriods(t, e, probe, modeMonth, 0, 1, chunk)
		comparePeriods(t, e, probe, modeDay, 0, 1, chunk)
	})
	for s := 0; s <= 6; s++ {
		inChunks(weekStart[s], 30_000, func(chunk []int64) { comparePeriods(t, e, probe, modeWeek, 0, s, chunk) })
	}
}

// Every offset step of the policy file (-840..840 minutes) on the days a reader worries
// about, at local midnight and one millisecond either side, and at UTC midnight (which lies
// inside the local day for any offset but 0): leap days, the century years 1900, 2000 and
// 2100, the year change, the first days of the epoch and the last local days before it.
func TestQuotaCalendarEveryOffset(t *testing.T) {
	e := openEngine(t, "limiters:\n  q: { strategy: quota, limit: 1, resetCadence: calendar-day }\n", engine.Options{})
	probe := periodProbe(t)
	dates := [][3]int{
		{1900, 2, 28}, {1900, 3, 1}, {1969, 12, 31}, {1970, 1, 1}, {1970, 1, 2}, {1970, 1, 5},
		{1999, 12, 31}, {2000, 1, 1}, {2000, 2, 29}, {2000, 3, 1}, {2023, 2, 28}, {2024, 2, 29},
		{2024, 3, 1}, {2024, 12, 31}, {2025, 1, 1}, {2100, 2, 28}, {2100, 3, 1}, {2026, 6, 1},
	}
	var midnights []int64 // local midnights' wall-clock instant, as if at offset 0
	for _, d := range dates {
		midnights = append(midnights, time.Date(d[0], time.Month(d[1]), d[2], 0, 0, 0, 0, time.UTC).UnixMilli())
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for minutes := -840; minutes <= 840; minutes += step {
		offsetMs := int64(minutes) * 60_000
		var instants []int64
		for _, m := range midnights {
			local := m - offsetMs // the instant of that local midnight
			instants = append(instants, local-1, local, local+1, m)
		}
		comparePeriods(t, e, probe, modeMonth, offsetMs, 1, instants)
		comparePeriods(t, e, probe, modeDay, offsetMs, 1, instants)
		comparePeriods(t, e, probe, modeWeek, offsetMs, (minutes%7+7)%7, instants)
	}
}

// Far beyond the epoch in both directions, into negative years, one instant every 97 days:
// floor division makes the civil functions exact there too, though a positive clock never
// reaches them.
func TestQuotaCalendarFarYears(t *testing.T) {
	e := openEngine(t, "limiters:\n  q: { strategy: quota, limit: 1, resetCadence: calendar-day }\n", engine.Options{})
	probe := periodProbe(t)
	var instants []int64
	from := time.Date(-3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	to := time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for n := from; n < to; n += 97*dayMs + 3_600_001 {
		instants = append(instants, n)
	}
	inChunks(instants, 30_000, func(chunk []int64) {
		for _, off := range []int64{-840 * 60_000, 0, 330 * 60_000} {
			comparePeriods(t, e, probe, modeMonth, off, 1, chunk)
			comparePeriods(t, e, probe, modeWeek, off, 0, chunk)
		}
	})
	if len(instants) < 40_000 {
		t.Fatalf("only %d instants", len(instants))
	}
}
