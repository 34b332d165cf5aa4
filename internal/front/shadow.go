package front

import (
	"github.com/throttlekit/throttlekit-go/luascripts"
	"github.com/throttlekit/throttlekit-go/policy"
)

// checkDecision reads a check script's reply for policy p. A shadow policy's denial comes
// back admitted and flagged Shadow, so a new limit can be rolled out and watched before it
// refuses anyone; a denial wrote no state, so admitting it changes nothing in the store.
func checkDecision(p *policy.Policy, s *luascripts.Script, reply any) (Decision, error) {
	d, err := decisionFromReply(s, reply)
	if err == nil && p.Shadow && !d.Allowed {
		d.Allowed, d.Shadow = true, true
	}
	return d, err
}
