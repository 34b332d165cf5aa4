package policy

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"go.yaml.in/yaml/v3"
)

// units maps duration suffixes to milliseconds. "ms" comes first so "250ms" is not read as
// "250m" followed by garbage or as seconds.
var units = []struct {
	suffix string
	ms     int64
}{{"ms", 1}, {"s", 1000}, {"m", 60_000}, {"h", 3_600_000}, {"d", 86_400_000}}

type durationFault int

const (
	durationOK durationFault = iota
	durationSyntax
	durationNotWhole // fractional, zero or negative milliseconds
	durationTooBig
)

// duration reads period, periodMs or windowMs: a YAML number of milliseconds, or a string
// "<number><unit>" (a bare numeric string is milliseconds). problem is "" when good.
func duration(n *yaml.Node) (ms int64, problem string) {
	fault := durationSyntax
	if f, ok := yamlNumber(n); ok {
		ms, fault = durationFromNumber(f)
	} else if isString(n) {
		ms, fault = parseDuration(resolve(n).Value)
	}
	switch fault {
	case durationOK:
		return ms, ""
	case durationNotWhole:
		return 0, "must be a whole number of milliseconds >= 1, got " + describe(n)
	case durationTooBig:
		return 0, fmt.Sprintf("must be at most %d milliseconds, got %s", int64(MaxSafeInteger), describe(n))
	}
	return 0, `must be a duration: a number of milliseconds, or a number with unit ms, s, m, h or d such as "1.5s", got ` + describe(n)
}

func durationFromNumber(f float64) (int64, durationFault) {
	switch {
	case f > MaxSafeInteger:
		return 0, durationTooBig
	case f >= 1 && f == math.Trunc(f):
		return int64(f), durationOK
	}
	return 0, durationNotWhole
}

// parseDuration computes a duration string exactly, in rationals rather than floats, so
// "1.1s" is exactly 1100 ms and "1.0005s" is exactly not a whole millisecond.
func parseDuration(text string) (int64, durationFault) {
	s := strings.TrimSpace(text)
	unit := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = s[:len(s)-len(u.suffix)], u.ms
			break
		}
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, durationSyntax
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	// Bounds before any big arithmetic, so a huge digit string costs nothing: 20 integer
	// digits exceed MaxSafeInteger in any unit, and a fraction with more than 10 significant
	// decimals can never become whole, since a day is 2^10·3^3·5^5 ms.
	if len(whole) > 20 {
		return 0, durationTooBig
	}
	if len(frac) > 20 {
		return 0, durationNotWhole
	}
	num, ok := new(big.Int).SetString("0"+whole+frac, 10)
	if !ok {
		return 0, durationSyntax
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	r := new(big.Rat).SetFrac(num, den)
	r.Mul(r, new(big.Rat).SetInt64(unit))
	if !r.IsInt() || r.Sign() <= 0 {
		return 0, durationNotWhole
	}
	v := r.Num()
	if !v.IsInt64() || v.Int64() > MaxSafeInteger {
		return 0, durationTooBig
	}
	return v.Int64(), durationOK
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
