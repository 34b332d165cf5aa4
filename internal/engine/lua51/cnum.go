package lua51

import (
	"math"
	"math/bits"
	"strconv"
)

// The C library's number conversions, as Redis's Lua 5.1 and Redis itself perform them on
// x86-64 Linux (glibc). Go's strconv and fmt agree with glibc on the digits (both round
// exactly, ties to even) but not on the syntax they accept or print, and gopher-lua's own
// conversions follow Go, so the embedded engine goes through these instead.

// IsSpace is C's isspace in the "C" locale.
func IsSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func IsDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	}
	return 36, false
}

// CStr cuts s at its first NUL: C functions see a Lua string only up to there.
func CStr(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i]
		}
	}
	return s
}

func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Strtod is glibc's strtod: the value of the longest numeric prefix of s and its length
// (0 when there is none). erange reports what strtod flags with ERANGE: a finite literal too
// large for a double, or a nonzero one that underflowed to zero.
func Strtod(s string) (v float64, n int, erange bool) {
	s = CStr(s)
	i := 0
	for i < len(s) && IsSpace(s[i]) {
		i++
	}
	start := i
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	rest := s[i:]
	switch {
	case hasPrefixFold(rest, "infinity"):
		return math.Copysign(math.Inf(1), signOf(neg)), i + 8, false
	case hasPrefixFold(rest, "inf"):
		return math.Copysign(math.Inf(1), signOf(neg)), i + 3, false
	case hasPrefixFold(rest, "nan"):
		j := i + 3
		// "nan(chars)" is consumed whole only when the parenthesis closes.
		if j < len(s) && s[j] == '(' {
			k := j + 1
			for k < len(s) && (IsDigit(s[k]) || s[k] == '_' || (s[k]|0x20 >= 'a' && s[k]|0x20 <= 'z')) {
				k++
			}
			if k < len(s) && s[k] == ')' {
				j = k + 1
			}
		}
		return math.Copysign(math.NaN(), signOf(neg)), j, false
	}
	if len(rest) >= 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X') {
		if v, m, ok := hexFloat(rest[2:]); ok {
			return math.Copysign(v, signOf(neg)), i + 2 + m, false
		}
		// "0x" without hex digits is the number 0 followed by junk.
		return math.Copysign(0, signOf(neg)), i + 1, false
	}
	j := i
	digits, nonzero := 0, false
	for j < len(s) && IsDigit(s[j]) {
		digits++
		nonzero = nonzero || s[j] != '0'
		j++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && IsDigit(s[j]) {
			digits++
			nonzero = nonzero || s[j] != '0'
			j++
		}
	}
	if digits == 0 {
		return 0, 0, false
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && IsDigit(s[k]) {
			for k < len(s) && IsDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	f, err := strconv.ParseFloat(s[start:j], 64)
	if err != nil && !math.IsInf(f, 0) {
		// Unreachable: the prefix was checked to be a decimal literal.
		return 0, 0, false
	}
	erange = math.IsInf(f, 0) || (f == 0 && nonzero)
	return f, j, erange
}

func signOf(neg bool) float64 {
	if neg {
		return -1
	}
	return 1
}

// hexFloat parses the part of a hexadecimal float after "0x": digits, an optional fraction
// and an optional binary exponent. ok is false when no hex digit comes first.
func hexFloat(s string) (v float64, n int, ok bool) {
	j, digits := 0, 0
	for j < len(s) && isHexChar(s[j]) {
		digits++
		j++
	}
	if j < len(s) && s[j] == '.' {
		k := j + 1
		frac := 0
		for k < len(s) && isHexChar(s[k]) {
			frac++
			k++
		}
		if digits+frac > 0 {
			digits += frac
			j = k
		}
	}
	if digits == 0 {
		return 0, 0, false
	}
	mant := s[:j]
	exp := "p0"
	if j < len(s) && (s[j] == 'p' || s[j] == 'P') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && IsDigit(s[k]) {
			for k < len(s) && IsDigit(s[k]) {
				k++
			}
			exp = s[j:k]
			j = k
		}
	}
	f, _ := strconv.ParseFloat("0x"+mant+exp, 64)
	return f, j, true
}

func isHexChar(c byte) bool {
	return IsDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

// cStrtoul is glibc's strtoul for base 2..36: whitespace, a sign, "0x" for base 16, digits;
// a negative number wraps around as an unsigned long; overflow saturates. n is 0 when no
// digit was read.
func cStrtoul(s string, base int) (v uint64, n int) {
	s = CStr(s)
	i := 0
	for i < len(s) && IsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 16 && i+2 < len(s) && s[i] == '0' && (s[i+1]|0x20) == 'x' && isHexChar(s[i+2]) {
		i += 2
	}
	j := i
	overflow := false
	for j < len(s) {
		d, ok := hexDigit(s[j])
		if !ok || d >= base {
			break
		}
		hi, lo := mulAdd(v, uint64(base), uint64(d))
		if hi != 0 {
			overflow = true
		}
		v = lo
		j++
	}
	if j == i {
		return 0, 0
	}
	if overflow {
		return math.MaxUint64, j
	}
	if neg {
		v = -v
	}
	return v, j
}

func mulAdd(a, b, c uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var carry uint64
	lo, carry = bits.Add64(lo, c, 0)
	return hi + carry, lo
}

// luaStr2d is Lua 5.1's luaO_str2d: the conversion behind tonumber and string arithmetic.
func luaStr2d(s string) (float64, bool) {
	if v, ok := smallDecimal(s); ok {
		return v, true
	}
	v, n, _ := Strtod(s)
	if n == 0 {
		return 0, false
	}
	c := CStr(s)
	if n < len(c) && (c[n] == 'x' || c[n] == 'X') {
		u, m := cStrtoul(s, 16)
		v, n = float64(u), m
	}
	for n < len(c) && IsSpace(c[n]) {
		n++
	}
	return v, n == len(c)
}

// smallDecimal reads the commonest numeric text, an optional '-' and 1 to 15 digits (every
// ARGV value and most stored fields), without the general parser: such a value is an
// integer a double holds exactly, which strtod would return too.
func smallDecimal(s string) (float64, bool) {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	if len(s) == i || len(s)-i > 15 {
		return 0, false
	}
	var v int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if s[0] == '-' {
		return -float64(v), true
	}
	return float64(v), true
}

// DoubleToInt64 is C's double to long long conversion as x86-64 performs it: truncation toward
// zero, and the "integer indefinite" value for NaN and anything out of range. Redis turns a
// Lua number into an integer reply this way.
func DoubleToInt64(f float64) int64 {
	if f != f || f >= 1<<63 || f < -(1<<63) {
		return math.MinInt64
	}
	return int64(f)
}

// cDoubleToUlong is C's double to unsigned long conversion as gcc compiles it for x86-64.
func cDoubleToUlong(f float64) uint64 {
	// The compare is unordered for NaN, which takes the signed path.
	if !(f >= 1<<63) {
		return uint64(DoubleToInt64(f))
	}
	return uint64(DoubleToInt64(f-(1<<63))) ^ (1 << 63)
}

// cvttsd2si32 is C's double to int conversion on x86-64.
func cvttsd2si32(f float64) int32 {
	if f != f || f >= 1<<31 || f < -(1<<31) {
		return math.MinInt32
	}
	return int32(f)
}
