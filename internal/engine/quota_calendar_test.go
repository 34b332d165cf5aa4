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

// periodProbe runs the shared period block on many cases at once: ARGV holds four values per
// case (mode, offsetMs, weekStartsOn, the instant); it returns start and reset for each.
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
local out = {}
for i = 1, #ARGV, 4 do
  local s, e = periodOf(tonumber(ARGV[i + 3]), tonumber(ARGV[i]), 0, 0, tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
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

// periodCase is one instant asked for its period under one cadence, offset and week start.
type periodCase struct {
	mode         int
	offsetMs     int64
	weekStartsOn int
	n            int64
}

// comparePeriods runs the probe on cases, in batches, and compares every answer with Go's.
func comparePeriods(t *testing.T, e *testEngine, probe string, cases []periodCase) {
	t.Helper()
	failures := 0
	for len(cases) > 0 {
		batch := cases[:min(len(cases), 20_000)]
		cases = cases[len(batch):]
		argv := make([]string, 0, 4*len(batch))
		for _, c := range batch {
			argv = append(argv, strconv.Itoa(c.mode), strconv.FormatInt(c.offsetMs, 10), strconv.Itoa(c.weekStartsOn), strconv.FormatInt(c.n, 10))
		}
		reply, err := e.EvalForTest(ctx, probe, nil, argv...)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		got, ok := reply.([]any)
		if !ok || len(got) != 2*len(batch) {
			t.Fatalf("probe returned %T of length %d for %d cases", reply, len(got), len(batch))
		}
		for i, c := range batch {
			start, reset := periodByTime(c.n, c.mode, c.offsetMs, c.weekStartsOn)
			if got[2*i] != start || got[2*i+1] != reset {
				t.Errorf("%+v (%s) is in [%v, %v) by the script, [%d, %d) by Go (%s .. %s)",
					c, time.UnixMilli(c.n).UTC().Format(time.RFC3339Nano), got[2*i], got[2*i+1], start, reset,
					time.UnixMilli(start).UTC().Format(time.RFC3339), time.UnixMilli(reset).UTC().Format(time.RFC3339))
				if failures++; failures == 10 {
					t.Fatal("too many differences")
				}
			}
			if !(start <= c.n && c.n < reset) {
				t.Fatalf("%+v outside its own period [%d, %d)", c, start, reset)
			}
		}
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
	var cases []periodCase
	for z := first; z <= last; z++ {
		n := z * dayMs
		switch ((z % 3) + 3) % 3 {
		case 1:
			n += ((z*7_919_993)%dayMs + dayMs) % dayMs
		case 2:
			n += dayMs - 1
		}
		cases = append(cases, periodCase{modeMonth, 0, 1, n}, periodCase{modeDay, 0, 1, n},
			periodCase{modeWeek, 0, int(((z/7)%7 + 7) % 7), n})
	}
	comparePeriods(t, e, probe, cases)
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
	var cases []periodCase
	for minutes := -840; minutes <= 840; minutes += step {
		offsetMs := int64(minutes) * 60_000
		for _, m := range midnights {
			local := m - offsetMs // the instant of that local midnight
			for _, n := range []int64{local - 1, local, local + 1, m} {
				cases = append(cases, periodCase{modeMonth, offsetMs, 1, n}, periodCase{modeDay, offsetMs, 1, n},
					periodCase{modeWeek, offsetMs, (minutes%7 + 7) % 7, n})
			}
		}
	}
	comparePeriods(t, e, probe, cases)
}

// Far beyond the epoch in both directions, into negative years, one instant every 97 days:
// floor division makes the civil functions exact there too, though a positive clock never
// reaches them.
func TestQuotaCalendarFarYears(t *testing.T) {
	e := openEngine(t, "limiters:\n  q: { strategy: quota, limit: 1, resetCadence: calendar-day }\n", engine.Options{})
	probe := periodProbe(t)
	var cases []periodCase
	from := time.Date(-3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	to := time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	stride := int64(97*dayMs + 3_600_001)
	if raceDetector {
		stride *= 4 // beyond any positive clock: a sample is enough where -race slows the interpreter tenfold
	}
	for n := from; n < to; n += stride {
		for _, off := range []int64{-840 * 60_000, 0, 330 * 60_000} {
			cases = append(cases, periodCase{modeMonth, off, 1, n}, periodCase{modeWeek, off, 0, n})
		}
	}
	if len(cases) < 50_000 {
		t.Fatalf("only %d cases", len(cases))
	}
	comparePeriods(t, e, probe, cases)
}
