package front

import (
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// decisionFromReply reads a call's [allowed, limit, remaining, resetAt, retryAfterMs], with
// its policy's window.
func decisionFromReply(call *ScriptCall, reply any) (Decision, error) {
	n := 5
	if call.Overrides() {
		n = 6 // and whether an override applied
	}
	v, err := integers(call.Script, reply, n)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: v[0] == 1, Limit: v[1], Remaining: v[2], ResetAt: v[3], RetryAfterMs: v[4], Override: v[5] == 1}
	if call.Policy != nil {
		d.WindowMs = call.Policy.WindowMsAt(d.ResetAt)
	}
	return d, nil
}

// forecastFromReply reads a script's [spendableNow, nextReplenishAt, fullAt].
func forecastFromReply(s *luascripts.Script, reply any) (Forecast, error) {
	v, err := integers(s, reply, 3)
	if err != nil {
		return Forecast{}, err
	}
	return Forecast{SpendableNow: v[0], NextReplenishAt: v[1], FullAt: v[2]}, nil
}

// integers checks that reply is a flat array of exactly n integers.
func integers(s *luascripts.Script, reply any, n int) ([6]int64, error) {
	var out [6]int64
	arr, ok := reply.([]any)
	if !ok || len(arr) != n {
		return out, NewError(ErrInternal, "script %s returned %T of length %d, want %d integers", s.Name, reply, len(arr), n)
	}
	for i, x := range arr {
		v, ok := x.(int64)
		if !ok {
			return out, NewError(ErrInternal, "script %s returned %T at position %d, want an integer", s.Name, x, i)
		}
		out[i] = v
	}
	return out, nil
}
