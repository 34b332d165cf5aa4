// Package lua51 gives gopher-lua the Lua 5.1 that Redis runs scripts in: C's number parsing
// and printing (strtod, printf), tostring, tonumber, string.format and table.concat as Lua 5.1
// defines them, and the % and .. operators, which compiled scripts reach as hidden calls.
package lua51

import (
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// luaLib holds the Lua 5.1 functions the embedded engine substitutes for gopher-lua's own,
// whose number conversions follow Go instead of C: gopher-lua's string.format is Go's
// fmt.Sprintf, its tonumber returns nil for "1e+20" or "inf", its number to string
// conversion prints 16 digits where Lua 5.1 prints 14, and its % uses fmod where Lua 5.1
// computes a - floor(a/b)*b. One luaLib belongs to one Lua state, so its buffer needs no lock.
type luaLib struct {
	buf []byte
}

func typeName(L *lua.LState, n int) string {
	if n > L.GetTop() {
		return "no value"
	}
	return L.Get(n).Type().String()
}

func argError(L *lua.LState, n int, fname, msg string) {
	L.RaiseError("bad argument #%d to '%s' (%s)", n, fname, msg)
}

// checkNumber is luaL_checknumber: a number, or a string Lua 5.1 reads as one.
func checkNumber(L *lua.LState, n int, fname string) float64 {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if f, ok := luaStr2d(string(v)); ok {
			return f
		}
	}
	argError(L, n, fname, "number expected, got "+typeName(L, n))
	return 0
}

// CheckString is luaL_checklstring: a string, or a number printed as Lua 5.1 prints it.
func CheckString(L *lua.LState, n int, fname string) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return luaNumberString(float64(v))
	}
	argError(L, n, fname, "string expected, got "+typeName(L, n))
	return ""
}

// format is Lua 5.1's string.format (lstrlib.c str_format) over C printf conversions.
func (lib *luaLib) format(L *lua.LState) int {
	top := L.GetTop()
	f := CheckString(L, 1, "format")
	buf := lib.buf[:0]
	arg := 1
	for i := 0; i < len(f); {
		if f[i] != '%' {
			buf = append(buf, f[i])
			i++
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			buf = append(buf, '%')
			i++
			continue
		}
		arg++
		if arg > top {
			argError(L, arg, "format", "no value")
		}
		sp, n := scanFormat(L, f[i:])
		i += n
		var verb byte
		if i < len(f) {
			verb = f[i]
		}
		i++
		sp.verb = verb
		switch verb {
		case 'c':
			buf = pad(buf, "", []byte{byte(cvttsd2si32(checkNumber(L, arg, "format")))}, sp, false)
		case 'd', 'i':
			buf = appendCInt(buf, DoubleToInt64(checkNumber(L, arg, "format")), sp)
		case 'o', 'u', 'x', 'X':
			buf = appendCUint(buf, cDoubleToUlong(checkNumber(L, arg, "format")), sp)
		case 'e', 'E', 'f', 'g', 'G':
			buf = appendCFloat(buf, checkNumber(L, arg, "format"), sp)
		case 'q':
			buf = appendQuoted(buf, CheckString(L, arg, "format"))
		case 's':
			s := CheckString(L, arg, "format")
			if sp.prec < 0 && len(s) >= 100 {
				// Lua 5.1 copies a long string whole, bypassing sprintf (and its width).
				buf = append(buf, s...)
			} else {
				buf = appendCString(buf, CStr(s), sp)
			}
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", verb)
		}
	}
	lib.buf = buf
	L.Push(lua.LString(buf))
	return 1
}

// scanFormat reads flags, width and precision after a '%' with Lua 5.1's limits: fewer
// than six flag characters, at most two digits each for width and precision.
func scanFormat(L *lua.LState, f string) (cSpec, int) {
	sp := cSpec{width: -1, prec: -1}
	i := 0
	for i < len(f) && f[i] != 0 {
		switch f[i] {
		case '-':
			sp.minus = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '#':
			sp.hash = true
		case '0':
			sp.zero = true
		default:
			goto width
		}
		i++
	}
width:
	if i >= 6 {
		L.RaiseError("invalid format (repeated flags)")
	}
	digits := func(max int) int {
		v, n := 0, 0
		for n < max && i < len(f) && IsDigit(f[i]) {
			v = v*10 + int(f[i]-'0')
			i++
			n++
		}
		if n == 0 {
			return -1
		}
		return v
	}
	sp.width = digits(2)
	if i < len(f) && f[i] == '.' {
		i++
		if sp.prec = digits(2); sp.prec < 0 {
			sp.prec = 0
		}
	}
	if i < len(f) && IsDigit(f[i]) {
		L.RaiseError("invalid format (width or precision too long)")
	}
	return sp, i
}

// appendQuoted is Lua 5.1's %q.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			dst = append(dst, '\\', c)
		case '\r':
			dst = append(dst, '\\', 'r')
		case 0:
			dst = append(dst, '\\', '0', '0', '0')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// tostring is Lua 5.1's: numbers as "%.14g", anything else as gopher-lua prints it
// (including a __tostring metamethod).
func luaToString(L *lua.LState) int {
	if L.GetTop() == 0 {
		argError(L, 1, "tostring", "value expected")
	}
	switch v := L.Get(1).(type) {
	case lua.LNumber:
		L.Push(lua.LString(luaNumberString(float64(v))))
	case lua.LString:
		L.Push(v)
	default:
		L.Push(L.ToStringMeta(v))
	}
	return 1
}

// tonumber is Lua 5.1's luaB_tonumber: strtod syntax in base 10 (hex, exponents, "inf",
// surrounding spaces), strtoul in any other base.
func luaToNumber(L *lua.LState) int {
	base := 10
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		base = int(cvttsd2si32(checkNumber(L, 2, "tonumber")))
	}
	if base == 10 {
		if L.GetTop() == 0 {
			argError(L, 1, "tonumber", "value expected")
		}
		switch v := L.Get(1).(type) {
		case lua.LNumber:
			L.Push(v)
			return 1
		case lua.LString:
			if f, ok := luaStr2d(string(v)); ok {
				L.Push(lua.LNumber(f))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}
	s := CheckString(L, 1, "tonumber")
	if base < 2 || base > 36 {
		argError(L, 2, "tonumber", "base out of range")
	}
	if u, n := cStrtoul(s, base); n > 0 {
		c := CStr(s)
		for n < len(c) && IsSpace(c[n]) {
			n++
		}
		if n == len(c) {
			L.Push(lua.LNumber(float64(u)))
			return 1
		}
	}
	L.Push(lua.LNil)
	return 1
}

// luaTableConcat is Lua 5.1's table.concat(t [, sep [, i [, j]]]), whose number elements
// print as "%.14g" (gopher-lua's print as Go does).
func luaTableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := ""
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		sep = CheckString(L, 2, "concat")
	}
	i := 1
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		i = int(cvttsd2si32(checkNumber(L, 3, "concat")))
	}
	j := t.Len()
	if L.GetTop() >= 4 && L.Get(4) != lua.LNil {
		j = int(cvttsd2si32(checkNumber(L, 4, "concat")))
	}
	var sb strings.Builder
	for k := i; k <= j; k++ {
		v := t.RawGetInt(k)
		s, ok := concatOperand(v)
		if !ok {
			L.RaiseError("invalid value (%s) at index %d in table for 'concat'", v.Type().String(), k)
		}
		sb.WriteString(s)
		if k < j {
			sb.WriteString(sep)
		}
	}
	L.Push(lua.LString(sb.String()))
	return 1
}

// arithOperand is a number operand of Lua 5.1 arithmetic: a number or a numeric string.
func arithOperand(v lua.LValue) (float64, bool) {
	switch v := v.(type) {
	case lua.LNumber:
		return float64(v), true
	case lua.LString:
		return luaStr2d(string(v))
	}
	return 0, false
}

// Mod is Lua 5.1's % operator (luai_nummod: a - floor(a/b)*b, each step rounded to a
// double), which the compiler substitutes for gopher-lua's fmod-based opcode. They differ
// for large or infinite operands: 1e17 % 3 is 0 in Lua 5.1 and 1 by fmod.
func Mod(L *lua.LState) int {
	a, b := L.Get(1), L.Get(2)
	x, okx := arithOperand(a)
	y, oky := arithOperand(b)
	if okx && oky {
		q := float64(math.Floor(x/y) * y)
		L.Push(lua.LNumber(x - q))
		return 1
	}
	if callMetamethod(L, "__mod", a, b) {
		return 1
	}
	bad := a
	if okx {
		bad = b
	}
	L.RaiseError("attempt to perform arithmetic on a %s value", bad.Type().String())
	return 0
}

// Concat is Lua 5.1's .. operator, which the compiler substitutes for gopher-lua's so
// that a number operand is printed as "%.14g" (gopher-lua prints 1e15 as
// "1000000000000000" and 1/3 with 16 digits).
func Concat(L *lua.LState) int {
	a, b := L.Get(1), L.Get(2)
	sa, oka := concatOperand(a)
	sb, okb := concatOperand(b)
	if oka && okb {
		L.Push(lua.LString(sa + sb))
		return 1
	}
	if callMetamethod(L, "__concat", a, b) {
		return 1
	}
	bad := a
	if oka {
		bad = b
	}
	L.RaiseError("attempt to concatenate a %s value", bad.Type().String())
	return 0
}

func concatOperand(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return luaNumberString(float64(v)), true
	}
	return "", false
}

// callMetamethod calls the event's handler of a (else b) on (a, b), leaving one result.
func callMetamethod(L *lua.LState, event string, a, b lua.LValue) bool {
	mm := L.GetMetaField(a, event)
	if mm == lua.LNil {
		mm = L.GetMetaField(b, event)
	}
	if mm == lua.LNil {
		return false
	}
	L.Push(mm)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	return true
}

// Install replaces gopher-lua's tostring, tonumber, string.format and table.concat in L with
// their Lua 5.1 behaviour. The base, string and table libraries must be open.
func Install(L *lua.LState) {
	lib := &luaLib{}
	g := L.G.Global
	g.RawSetString("tostring", L.NewFunction(luaToString))
	g.RawSetString("tonumber", L.NewFunction(luaToNumber))
	L.GetGlobal("string").(*lua.LTable).RawSetString("format", L.NewFunction(lib.format))
	L.GetGlobal("table").(*lua.LTable).RawSetString("concat", L.NewFunction(luaTableConcat))
}
