package engine

import (
	"context"
	"strconv"
	"strings"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
	lua "github.com/yuin/gopher-lua"
)

// The redis table a script sees: redis.call and redis.pcall over the command shim, with
// Redis's conversions of arguments and replies, and redis.error_reply / status_reply.

// redisCall is redis.call (raise) and redis.pcall (return the error table).
func (st *luaState) redisCall(L *lua.LState, raise bool) int {
	top := L.GetTop()
	if top == 0 {
		return st.fail(L, "ERR Please specify at least one argument for this redis lib call", raise)
	}
	args := st.args[:0]
	for i := 1; i <= top; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args = append(args, string(v))
		case lua.LNumber:
			// Redis 7.0 writes a number argument with %.17g.
			args = append(args, lua51.RedisDoubleString(float64(v)))
		default:
			st.args = args
			return st.fail(L, "ERR Lua redis lib command arguments must be strings or integers", raise)
		}
	}
	st.args = args
	r := st.execute(args)
	clear(args)
	return st.push(L, r, raise)
}

// execute runs one command of the shim.
func (st *luaState) execute(args []string) reply {
	c := lookupCommand(args[0])
	if c == nil {
		return errReply("ERR command " + strconv.Quote(args[0]) + " is not supported by the embedded engine")
	}
	if bad := c.check(&st.exec, args); bad != nil {
		return *bad
	}
	if c.write && !st.exec.wrote {
		st.exec.wrote = true
		if st.interruptible {
			// A context that is never done: the running loop keeps checking it, harmlessly.
			st.L.SetContext(context.Background())
		}
	}
	return c.run(&st.exec, args)
}

// push converts a command's reply for Lua as Redis does (RESP2): integer to number, bulk
// to string, nil bulk to false, array to table, status to {ok=...}, error to {err=...}
// raised (redis.call) or returned (redis.pcall).
func (st *luaState) push(L *lua.LState, r reply, raise bool) int {
	switch r.typ {
	case replyInt:
		L.Push(lua.LNumber(r.n))
	case replyBulk:
		L.Push(lua.LString(r.s))
	case replyNil:
		L.Push(lua.LFalse)
	case replyStatus:
		L.Push(st.statusTable(L, r.s))
	case replyArray:
		t := L.CreateTable(len(r.arr), 0)
		for i, b := range r.arr {
			if b.null {
				t.RawSetInt(i+1, lua.LFalse)
			} else {
				t.RawSetInt(i+1, lua.LString(b.s))
			}
		}
		clear(r.arr)
		L.Push(t)
	case replyError:
		return st.fail(L, r.s, raise)
	}
	return 1
}

// statusTable returns {ok=s}. SET's "OK" is the reply of nearly every gcra check, and a
// table with a string key costs a Go map, so one table serves it: handed out at most once
// per run (two replies within a run stay distinct), and only while no script changed it.
func (st *luaState) statusTable(L *lua.LState, s string) *lua.LTable {
	if t := st.okTable; s == "OK" && t != nil && !st.okUsed {
		if t.RawGetString("ok") == lua.LString("OK") && L.GetMetatable(t) == lua.LNil && t.Len() == 0 && tableSize(t) == 1 {
			st.okUsed = true
			return t
		}
	}
	t := L.CreateTable(0, 1)
	t.RawSetString("ok", lua.LString(s))
	if s == "OK" && !st.okUsed {
		st.okTable, st.okUsed = t, true
	}
	return t
}

func tableSize(t *lua.LTable) int {
	n := 0
	t.ForEach(func(lua.LValue, lua.LValue) { n++ })
	return n
}

func (st *luaState) fail(L *lua.LState, msg string, raise bool) int {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	if !raise {
		L.Push(t)
		return 1
	}
	st.raised, st.raisedAt = t, strings.TrimSuffix(L.Where(1), ":")
	L.Error(t, 0)
	return 0
}

// luaErrorReply is redis.error_reply: {err=text} with Redis 7's error-code rule: the
// text's first word is its code when it starts with '-', else the code is ERR.
func luaErrorReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	t := L.CreateTable(0, 1)
	if L.GetTop() != 1 || !ok {
		t.RawSetString("err", lua.LString("ERR wrong number or type of arguments"))
		L.Push(t)
		return 1
	}
	e := string(s)
	if !strings.HasPrefix(e, "-") {
		e = "-" + e
	}
	code, msg := "ERR", e[1:]
	if i := strings.IndexByte(e, ' '); i >= 0 {
		code, msg = e[1:i], e[i+1:]
	}
	t.RawSetString("err", lua.LString(code+" "+strings.Trim(msg, "\r\n")))
	L.Push(t)
	return 1
}

// luaStatusReply is redis.status_reply: {ok=msg}.
func luaStatusReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	t := L.CreateTable(0, 1)
	if L.GetTop() != 1 || !ok {
		t.RawSetString("err", lua.LString("ERR wrong number or type of arguments"))
	} else {
		t.RawSetString("ok", s)
	}
	L.Push(t)
	return 1
}
