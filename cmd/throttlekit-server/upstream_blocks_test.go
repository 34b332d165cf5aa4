package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// upstreamBlocks holds every block of the later upstream cores (contract/upstream-blocks.yaml).
const upstreamBlocks = "../../contract/upstream-blocks.yaml"

// A file with every upstream block loads on both stores: the served policies answer, each
// unserved one answers UNIMPLEMENTED naming its feature, and the fleetBudget debits from the
// same budget as a tokenBudget would.
func TestEveryUpstreamBlockLoads(t *testing.T) {
	stores := map[string]func(t *testing.T) []string{
		"memory": func(*testing.T) []string { return nil },
		"redis": func(t *testing.T) []string {
			return []string{"--redis", testenv.URL(t), "--redis-prefix", testenv.Namespace(t)}
		},
	}
	for name, storeArgs := range stores {
		t.Run(name, func(t *testing.T) {
			p := launch(t, append([]string{"-c", upstreamBlocks, "--host", "127.0.0.1", "--port", "0"}, storeArgs(t)...)...)
			c := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))
			ctx := callCtx(t)
			for _, policy := range []string{"api", "monthly", "trailing"} {
				if r, err := c.Check(ctx, &contract.CheckRequest{Policy: policy, Key: "k"}); err != nil || !r.GetDecision().GetAllowed() {
					t.Errorf("Check %s: %v, %v; want allowed", policy, r.GetDecision(), err)
				}
			}
			for policy, budget := range map[string]int64{"llm": 100000, "completions": 1000000} {
				r, err := c.Debit(ctx, &contract.DebitRequest{Policy: policy, Key: "k", Tokens: 40})
				if err != nil || !r.GetDecision().GetAllowed() || r.GetDecision().GetLimit() != budget || r.GetDecision().GetRemaining() != budget-40 {
					t.Errorf("Debit %s: %v, %v; want the budget %d less 40", policy, r.GetDecision(), err, budget)
				}
				if _, err := c.Check(ctx, &contract.CheckRequest{Policy: policy, Key: "k"}); status.Code(err) != codes.Unimplemented {
					t.Errorf("Check on the meter %s: %v, want UNIMPLEMENTED", policy, err)
				}
			}
			if r, err := c.Admit(ctx, &contract.AdmitRequest{Policy: "checkout", Key: "k"}); err != nil || !r.GetDecision().GetAllowed() || r.GetLeaseId() == "" {
				t.Errorf("Admit checkout: %v, %v; want a lease", r, err)
			}
			for policy, feature := range map[string]string{"leased": "twoTier", "global-api": "federated",
				"fleet-pool": "distributedConcurrency", "tenants": "fairEscrow", "regions": "federatedFairEscrow"} {
				_, err := c.Check(ctx, &contract.CheckRequest{Policy: policy, Key: "k"})
				if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), feature) {
					t.Errorf("Check %s: %v; want UNIMPLEMENTED naming %s", policy, err, feature)
				}
			}
		})
	}
}
