package front

import (
	"strconv"

	"github.com/throttlekit/throttlekit-go/luascripts"
)

// BatchItem is one check of a batch: a prepared check script on one full key.
type BatchItem struct {
	Call   *ScriptCall
	Key    string
	Amount int64
	Shadow bool // its denial is admitted and does not undo a mode-all run (a shadow's)
}

// Batch modes of the batch script: in "each" every item is decided on its own and only a
// failure undoes the run; in "all" a denial undoes it too (all or nothing).
const (
	BatchEach = "each"
	BatchAll  = "all"
)

// BatchScript is the script that runs a batch in one atomic run (luascripts.composeBatch).
var BatchScript = mustLookup("all", luascripts.RoleBatch)

func mustLookup(strategy, role string) *luascripts.Script {
	s, ok := luascripts.Lookup(strategy, role)
	if !ok {
		panic("front: no script " + strategy + "." + role + " in the manifest")
	}
	return s
}

// BatchArgs builds the batch script's KEYS and ARGV for items, all at nowMs (0: the store's
// clock, read once by the script). Items with the same call and amount share one spec, so a
// CheckMany of a thousand keys sends its policy's parameters once.
func BatchArgs(items []BatchItem, nowMs int64, mode string) (keys []string, argv []any) {
	type specKey struct {
		call   *ScriptCall
		spec   string
		amount int64
		shadow bool
	}
	keys = make([]string, 0, len(items))
	specOf := make(map[specKey]int, 1)
	argv = append(make([]any, 0, 3+len(items)+8), nowMs, mode, 0)
	numbers := make([]any, len(items))
	for i, it := range items {
		keys = append(keys, it.Key)
		if it.Call.Overrides() {
			keys = append(keys, OverrideKey(it.Key))
		}
		origin := it.Call
		if origin.origin != nil {
			origin = origin.origin
		}
		k := specKey{origin, it.Call.Spec, it.Amount, it.Shadow}
		n, ok := specOf[k]
		if !ok {
			n = len(specOf) + 1
			specOf[k] = n
			argv = it.Call.appendSpec(argv, it.Amount, it.Shadow)
		}
		numbers[i] = n
	}
	argv[2] = len(specOf)
	return keys, append(argv, numbers...)
}

// appendSpec appends the call's spec: its strategy, its flags (1: a shadow's; 2: honours
// overrides), how many ARGV follow, and its check's ARGV after now, with the amount in its
// slot, then for an override check the policy file's override spec for its keys.
func (c *ScriptCall) appendSpec(argv []any, amount int64, shadow bool) []any {
	flag := 0
	if shadow {
		flag = 1
	}
	params := c.Argv[1:]
	if c.Overrides() {
		flag += 2
		params = params[:len(params)-1] // the spec slot
	}
	argv = append(argv, c.Script.Strategy, flag, len(params))
	for i, v := range params {
		if i+1 == c.AmountAt {
			v = amount
		}
		argv = append(argv, v)
	}
	if c.Overrides() {
		argv = append(argv, c.Spec)
	}
	return argv
}

// SplitBatchReply cuts the batch script's flat reply into one reply per item: five
// integers, and a sixth (whether an override applied) for an item that honours overrides,
// as its own script would answer.
func SplitBatchReply(reply any, items []BatchItem) ([]any, error) {
	n, want := len(items), 5*len(items)
	overrides := false
	for _, it := range items {
		overrides = overrides || it.Call.Overrides()
	}
	if overrides {
		want += n
	}
	flat, ok := reply.([]any)
	if !ok || len(flat) != want {
		return nil, NewError(ErrInternal, "script %s returned %T of length %d, want %s integers",
			BatchScript.Name, reply, len(flat), strconv.Itoa(want))
	}
	out := make([]any, n)
	for i, it := range items {
		if it.Call.Overrides() {
			out[i] = []any{flat[5*i], flat[5*i+1], flat[5*i+2], flat[5*i+3], flat[5*i+4], flat[5*n+i]}
			continue
		}
		out[i] = flat[5*i : 5*i+5 : 5*i+5]
	}
	return out, nil
}
