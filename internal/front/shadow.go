package front

// checkDecision reads a check script's reply. A shadow's denial (a shadow policy's, or any
// under a shadow switch) comes back admitted and flagged Shadow, so a new limit can be rolled
// out and watched before it refuses anyone; a denial wrote no state, so admitting it changes
// nothing in the store.
func checkDecision(shadow bool, call *ScriptCall, reply any) (Decision, error) {
	d, err := decisionFromReply(call, reply)
	if err == nil && shadow {
		d = Shade(d)
	}
	return d, err
}

// Shade admits a denial the limiter made, flagged Shadow; other decisions are returned as
// they are (a synthesized one is the fail mode's, not the limiter's).
func Shade(d Decision) Decision {
	if !d.Allowed && !d.Synthesized {
		d.Allowed, d.Shadow = true, true
	}
	return d
}
