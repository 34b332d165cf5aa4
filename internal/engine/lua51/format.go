package lua51

import (
	"math"
	"strconv"
)

// C printf conversions, byte for byte as glibc prints them, for the embedded engine's
// string.format, tostring and the number arguments of redis.call. The digits come from
// strconv (exact, ties to even, like glibc); the layout (exponent forms, trailing zeros,
// flags, nan and inf) is C's, which differs from Go's fmt in several places (%g, "NaN",
// "+Inf", flags).

// cSpec is one parsed conversion: %[flags][width][.precision]verb.
type cSpec struct {
	minus, plus, space, hash, zero bool
	width, prec                    int // -1 when absent
	verb                           byte
}

// Formats Redis and Lua use without a format string of their own.
var (
	// Lua 5.1's LUA_NUMBER_FMT: tostring, concatenation, a number where a string is expected.
	specLuaNumber = cSpec{width: -1, prec: 14, verb: 'g'}
	// Redis 7.0: a number argument of redis.call, and a sorted-set score in a RESP2 reply.
	specRedisDouble = cSpec{width: -1, prec: 17, verb: 'g'}
)

// appendCFloat formats f for an e, E, f, F, g or G conversion.
func appendCFloat(dst []byte, f float64, sp cSpec) []byte {
	if sp.width < 0 && !sp.plus && !sp.space && !sp.hash && f == math.Trunc(f) && math.Abs(f) < 1<<53 &&
		((sp.verb == 'f' && sp.prec == 0) || (sp.verb == 'g' && sp.prec >= 16)) && !(f == 0 && math.Signbit(f)) {
		// The scripts' '%.0f' and '%.17g' of an integral value, their commonest conversions:
		// both print exactly the integer's digits.
		return strconv.AppendInt(dst, int64(f), 10)
	}
	var sign string
	switch {
	case math.Signbit(f):
		sign = "-"
	case sp.plus:
		sign = "+"
	case sp.space:
		sign = " "
	}
	upper := sp.verb == 'E' || sp.verb == 'F' || sp.verb == 'G'
	var body []byte
	var scratch [64]byte
	finite := true
	switch {
	case math.IsNaN(f):
		body, finite = append(scratch[:0], "nan"...), false
	case math.IsInf(f, 0):
		body, finite = append(scratch[:0], "inf"...), false
	default:
		body = formatFinite(scratch[:0], math.Abs(f), sp)
	}
	if upper {
		for i, c := range body {
			if c >= 'a' && c <= 'z' {
				body[i] = c - ('a' - 'A')
			}
		}
	}
	// C ignores the 0 flag for nan and inf, and whenever - is given.
	return pad(dst, sign, body, sp, finite && sp.zero && !sp.minus)
}

// formatFinite lays out a non-negative finite a.
func formatFinite(dst []byte, a float64, sp cSpec) []byte {
	prec := sp.prec
	if prec < 0 {
		prec = 6
	}
	switch sp.verb {
	case 'f', 'F':
		dst = strconv.AppendFloat(dst, a, 'f', prec, 64)
		if sp.hash && prec == 0 {
			dst = append(dst, '.')
		}
		return dst
	case 'e', 'E':
		dst = strconv.AppendFloat(dst, a, 'e', prec, 64)
		if sp.hash && prec == 0 {
			dst = append(dst[:1], append([]byte{'.'}, dst[1:]...)...)
		}
		return dst
	}
	// %g: precision P significant digits; the exponent X of the e-form rounded to P digits
	// picks the layout (f-form when P > X >= -4); trailing zeros go unless # is given.
	p := prec
	if p == 0 {
		p = 1
	}
	start := len(dst)
	e := strconv.AppendFloat(dst, a, 'e', p-1, 64)
	ePos := len(e) - 1
	for e[ePos] != 'e' {
		ePos--
	}
	x, _ := strconv.Atoi(string(e[ePos+1:]))
	if x < -4 || x >= p {
		if sp.hash && p > 1 && x == p && unroundedExponent(a) == p-1 {
			// glibc quirk: the unrounded value chose the f-form with no fraction digit, and
			// rounding up to 10^p then moved it to the e-form without adding any: "1.e+06".
			n := copy(e[start+2:], e[ePos:])
			e[start+1] = '.'
			return e[:start+2+n]
		}
		if sp.hash {
			if p == 1 {
				tail := append([]byte{'.'}, e[start+1:]...)
				return append(e[:start+1], tail...)
			}
			return e
		}
		mant := trimFraction(e[start:ePos])
		n := copy(e[start+len(mant):], e[ePos:])
		return e[:start+len(mant)+n]
	}
	// Rebuild the f-form from the same p significant digits: the rounding is identical.
	var digits [128]byte
	nd := 0
	for _, c := range e[start:ePos] {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	out := e[:start]
	if x >= 0 {
		out = append(out, digits[:x+1]...)
		if nd > x+1 || sp.hash {
			out = append(out, '.')
			out = append(out, digits[x+1:nd]...)
		}
	} else {
		out = append(out, '0', '.')
		for i := 0; i < -x-1; i++ {
			out = append(out, '0')
		}
		out = append(out, digits[:nd]...)
	}
	if sp.hash {
		return out
	}
	mant := trimFraction(out[start:])
	return out[:start+len(mant)]
}

// unroundedExponent is the decimal exponent of a before any rounding: 25 significant
// digits never round a double up to the next power of ten.
func unroundedExponent(a float64) int {
	var b [40]byte
	e := strconv.AppendFloat(b[:0], a, 'e', 24, 64)
	i := len(e) - 1
	for e[i] != 'e' {
		i--
	}
	x, _ := strconv.Atoi(string(e[i+1:]))
	return x
}

// trimFraction drops trailing zeros after a decimal point, and the point if nothing follows.
func trimFraction(b []byte) []byte {
	dot := -1
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return b
	}
	end := len(b)
	for end > dot+1 && b[end-1] == '0' {
		end--
	}
	if end == dot+1 {
		end = dot
	}
	return b[:end]
}

// appendCInt formats v for a d or i conversion.
func appendCInt(dst []byte, v int64, sp cSpec) []byte {
	var sign string
	switch {
	case v < 0:
		sign = "-"
	case sp.plus:
		sign = "+"
	case sp.space:
		sign = " "
	}
	mag := uint64(v)
	if v < 0 {
		mag = -mag
	}
	var scratch [64]byte
	body := precisionDigits(strconv.AppendUint(scratch[:0], mag, 10), mag, sp.prec)
	return pad(dst, sign, body, sp, sp.zero && !sp.minus && sp.prec < 0)
}

// appendCUint formats v for an o, u, x or X conversion.
func appendCUint(dst []byte, v uint64, sp cSpec) []byte {
	var scratch [80]byte
	var body []byte
	prefix := ""
	switch sp.verb {
	case 'o':
		body = precisionDigits(strconv.AppendUint(scratch[:0], v, 8), v, sp.prec)
		if sp.hash && (len(body) == 0 || body[0] != '0') {
			body = append([]byte{'0'}, body...)
		}
	case 'x', 'X':
		body = precisionDigits(strconv.AppendUint(scratch[:0], v, 16), v, sp.prec)
		if sp.hash && v != 0 {
			prefix = "0x"
		}
		if sp.verb == 'X' {
			if prefix != "" {
				prefix = "0X"
			}
			for i, c := range body {
				if c >= 'a' && c <= 'f' {
					body[i] = c - ('a' - 'A')
				}
			}
		}
	default:
		body = precisionDigits(strconv.AppendUint(scratch[:0], v, 10), v, sp.prec)
	}
	return pad(dst, prefix, body, sp, sp.zero && !sp.minus && sp.prec < 0)
}

// precisionDigits applies an integer conversion's precision: the minimum number of digits,
// and no digit at all for a zero value with precision 0.
func precisionDigits(digits []byte, v uint64, prec int) []byte {
	if prec == 0 && v == 0 {
		return digits[:0]
	}
	if prec > len(digits) {
		z := make([]byte, prec-len(digits), prec)
		for i := range z {
			z[i] = '0'
		}
		return append(z, digits...)
	}
	return digits
}

// appendCString formats s for an s conversion (s already cut at its first NUL).
func appendCString(dst []byte, s string, sp cSpec) []byte {
	if sp.prec >= 0 && len(s) > sp.prec {
		s = s[:sp.prec]
	}
	return pad(dst, "", []byte(s), sp, false)
}

// pad lays out sign+body in the field width: left-justified with -, zero-filled between the
// sign and the digits when zeroFill, right-justified with spaces otherwise.
func pad(dst []byte, sign string, body []byte, sp cSpec, zeroFill bool) []byte {
	n := sp.width - len(sign) - len(body)
	switch {
	case n <= 0:
		dst = append(dst, sign...)
		return append(dst, body...)
	case sp.minus:
		dst = append(dst, sign...)
		dst = append(dst, body...)
		return appendRepeat(dst, ' ', n)
	case zeroFill:
		dst = append(dst, sign...)
		dst = appendRepeat(dst, '0', n)
		return append(dst, body...)
	}
	dst = appendRepeat(dst, ' ', n)
	dst = append(dst, sign...)
	return append(dst, body...)
}

func appendRepeat(dst []byte, c byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, c)
	}
	return dst
}

// luaNumberString is Lua 5.1's number to string conversion ("%.14g").
func luaNumberString(f float64) string {
	var b [32]byte
	return string(appendCFloat(b[:0], f, specLuaNumber))
}

// RedisDoubleString is how Redis 7.0 writes a double as text: a number passed to
// redis.call, a sorted-set score in a reply.
func RedisDoubleString(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e17 {
		// An integral value below 10^17 prints as its digits under %.17g: a faster path.
		if f == 0 && math.Signbit(f) {
			return "-0"
		}
		return strconv.FormatInt(int64(f), 10)
	}
	var b [32]byte
	return string(appendCFloat(b[:0], f, specRedisDouble))
}
