package front

import (
	"fmt"

	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// ScriptCall is one script prepared for one policy: its static ARGV is rendered once, when
// the policy set is loaded, so a call only fills in the clock and the amount.
type ScriptCall struct {
	Policy   *policy.Policy // whose call it is (nil for a reset, which serves every policy)
	Script   *luascripts.Script
	Argv     []any // manifest order; the "now" and amount slots are filled per call
	AmountAt int   // index of "cost" / "tokens" in argv, or -1
	// Spec is the policy file's override spec for the call's key, sent after Argv by an
	// override script (role override), whose KEYS are the state key and its override record
	// (OverrideKey); "" for none.
	Spec   string
	origin *ScriptCall // the policy's call that this per-key copy was made from (forKey)
}

// preparedPolicy is a policy with the scripts that serve it (nil where an operation does not
// apply to the policy).
type preparedPolicy struct {
	p                     *policy.Policy
	check, peek, forecast *ScriptCall
	debit, refund, reset  *ScriptCall
	lease                 []any // an admitter's lease-script parameters (prepareLease); nil otherwise
}

// preparedSet is an immutable policy set ready for calls; swapped atomically on reload.
type preparedSet struct {
	set      *policy.Set
	policies map[string]*preparedPolicy
	names    string // "a, b, c" (bounded: see listNames): for the message of an unknown policy
}

func prepareSet(set *policy.Set) (*preparedSet, error) {
	ps := &preparedSet{set: set, policies: make(map[string]*preparedPolicy, set.Len()),
		names: listNames(set.Names())}
	for _, name := range set.Names() {
		p, _ := set.Lookup(name)
		pp := &preparedPolicy{p: p}
		if p.Unsupported == "" {
			var err error
			check := luascripts.RoleCheck
			if p.HasOverrides() {
				check = luascripts.RoleOverride
			}
			roles := []struct {
				role string
				dst  **ScriptCall
			}{{check, &pp.check}, {luascripts.RolePeek, &pp.peek}, {luascripts.RoleForecast, &pp.forecast},
				{luascripts.RoleDebit, &pp.debit}, {luascripts.RoleRefund, &pp.refund}}
			for _, r := range roles {
				if *r.dst, err = prepareCall(p, r.role); err != nil {
					return nil, err
				}
			}
			pp.reset = resetCall
		}
		if p.IsAdmitter() && p.Unsupported == "" {
			pp.lease = prepareLease(p)
		}
		ps.policies[name] = pp
	}
	return ps, nil
}

// resetCall forgets a key whatever its policy's strategy (luascripts all.reset).
var resetCall = &ScriptCall{Script: mustLookup("all", luascripts.RoleReset), Argv: []any{nil}, AmountAt: -1}

// prepareCall renders the static ARGV of a policy's script for role, or returns nil when the
// strategy has no script for that role (e.g. forecast on a token budget).
func prepareCall(p *policy.Policy, role string) (*ScriptCall, error) {
	s, ok := luascripts.Lookup(string(p.ScriptStrategy()), role)
	if !ok {
		return nil, nil
	}
	c := &ScriptCall{Policy: p, Script: s, Argv: make([]any, len(s.Argv)), AmountAt: -1}
	for i, name := range s.Argv {
		switch name {
		case "now", "overrideSpec":
		case "cost", "tokens":
			c.AmountAt = i
		default:
			v, ok := p.Arg(name)
			if !ok {
				return nil, fmt.Errorf("policy %q has no parameter %q for script %s", p.Name, name, s.Name)
			}
			c.Argv[i] = v
		}
	}
	if len(s.Argv) == 0 || s.Argv[0] != "now" {
		return nil, fmt.Errorf("script %s: ARGV must start with now", s.Name)
	}
	return c, nil
}

// Args builds the full Redis command for one call: EVALSHA sha 1 key now ... amount ...
// (an override script's: EVALSHA sha 2 key overrideKey now ... amount ... spec).
func (c *ScriptCall) Args(key string, nowMs, amount int64) []any {
	if c.Overrides() {
		keys, argv := c.KeysArgv(key, nowMs, amount)
		return append([]any{"evalsha", c.Script.SHA1, 2, keys[0], keys[1]}, argv...)
	}
	a := make([]any, 4+len(c.Argv))
	a[0], a[1], a[2], a[3] = "evalsha", c.Script.SHA1, 1, key
	copy(a[4:], c.Argv)
	a[4] = nowMs
	if c.AmountAt >= 0 {
		a[4+c.AmountAt] = amount
	}
	return a
}

// KeysArgv is the call's KEYS and ARGV on key (what Args sends after the key count).
func (c *ScriptCall) KeysArgv(key string, nowMs, amount int64) ([]string, []any) {
	argv := make([]any, len(c.Argv))
	copy(argv, c.Argv)
	argv[0] = nowMs
	if c.AmountAt >= 0 {
		argv[c.AmountAt] = amount
	}
	if c.Overrides() {
		argv[len(argv)-1] = c.Spec
		return []string{key, OverrideKey(key)}, argv
	}
	return []string{key}, argv
}
