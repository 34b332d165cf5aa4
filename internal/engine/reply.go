package engine

import (
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/rediserr"
	lua "github.com/yuin/gopher-lua"
)

// A script's return value, converted as Redis converts it to a RESP2 reply and go-redis
// then hands it to RedisBackend, so that both doors feed the front the same values.

// engineReplyError is an error nested in a script's reply array: go-redis hands such an
// element over as a value of its own error type, which is a redis.Error like this one.
type engineReplyError string

func (e engineReplyError) Error() string { return string(e) }
func (engineReplyError) RedisError()     {}

var _ redis.Error = engineReplyError("")

// maxReplyDepth bounds the nesting of a reply, as Redis's Lua stack does (and a table that
// contains itself would otherwise never end).
const maxReplyDepth = 100

// replyFromLua converts a script's return value as Redis does (RESP2) and then go-redis:
// a number is truncated to int64, a string stays a string, true is 1, false and nil are
// nil, a table is an array up to its first nil, {err=...} an error and {ok=...} a status.
func replyFromLua(name string, v lua.LValue) (any, error) {
	r := convertReply(v, 0)
	switch r := r.(type) {
	case engineReplyError:
		return nil, &front.Error{Kind: rediserr.ReplyKind(string(r)), Msg: "embedded engine: script " + name + ": " + string(r), Cause: r}
	case nil:
		return nil, &front.Error{Kind: front.ErrInternal, Msg: "embedded engine: script " + name + " returned nil", Cause: redis.Nil}
	}
	return r, nil
}

var oneLine = strings.NewReplacer("\r", " ", "\n", " ")

func convertReply(v lua.LValue, depth int) any {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return lua51.DoubleToInt64(float64(v))
	case lua.LBool:
		if v {
			return int64(1)
		}
		return nil
	case *lua.LTable:
		if depth >= maxReplyDepth {
			return engineReplyError("ERR reached lua stack limit")
		}
		// Redis writes an error or status on one line: newlines become spaces.
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return engineReplyError(oneLine.Replace(string(e)))
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			return oneLine.Replace(string(s))
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		out := make([]any, n)
		for i := range out {
			out[i] = convertReply(v.RawGetInt(i+1), depth+1)
		}
		return out
	}
	return nil
}
