package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// upstreamBlocks holds every block of the later upstream cores (contract/upstream-blocks.yaml).
const upstreamBlocks = "../../contract/upstream-blocks.yaml"

// A file with every upstream block loads on both stores (the memory store without the
// federated policy, which it cannot serve): the served policies answer, each unserved one
// answers UNIMPLEMENTED naming its feature, and the fleetBudget debits from the same budget
// as a tokenBudget would.
func TestEveryUpstreamBlockLoads(t *testing.T) {
	stores := map[string]func(t *testing.T) []string{
		"memory": func(t *testing.T) []string { return []string{"-c", withoutPolicy(t, upstreamBlocks, "global-api")} },
		"redis": func(t *testing.T) []string {
			return []string{"-c", upstreamBlocks, "--redis", testenv.URL(t), "--redis-prefix", testenv.Namespace(t)}
		},
	}
	for name, storeArgs := range stores {
		t.Run(name, func(t *testing.T) {
			p := launch(t, append([]string{"--host", "127.0.0.1", "--port", "0"}, storeArgs(t)...)...)
			c := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))
			ctx := callCtx(t)
			// leased is served (L1 in front of its strategy); global-api's budget is leased
			// through Fleet.Reserve on the redis store, and its Check spends the server's own
			// lease of a batch (16).
			if name == "redis" {
				conn := dial(t, p.waitListening(t))
				r, err := contract.NewFleetClient(conn).Reserve(ctx, &contract.ReserveRequest{Policy: "global-api", Wants: 16})
				if err != nil || r.GetLease().GetCapacity() != 16 || r.GetLease().GetLimit() != 10000 {
					t.Errorf("Reserve global-api: %v, %v; want 16 of 10000", r.GetLease(), err)
				}
				r2, err := c.Check(ctx, &contract.CheckRequest{Policy: "global-api", Key: "k"})
				if d := r2.GetDecision(); err != nil || !d.GetAllowed() || d.GetLimit() != 10000 || d.GetRemaining() != 15 {
					t.Errorf("Check global-api: %v, %v; want allowed, 15 of a lease of 16 left", d, err)
				}
			}
			for _, policy := range []string{"api", "monthly", "trailing", "leased"} {
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
			for policy, feature := range map[string]string{
				"fleet-pool": "distributedConcurrency", "tenants": "fairEscrow", "regions": "federatedFairEscrow"} {
				_, err := c.Check(ctx, &contract.CheckRequest{Policy: policy, Key: "k"})
				if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), feature) {
					t.Errorf("Check %s: %v; want UNIMPLEMENTED naming %s", policy, err, feature)
				}
			}
		})
	}
}

// The memory store refuses the file as it is: it cannot federate.
func TestUpstreamBlocksFederatedNeedsACoordinator(t *testing.T) {
	p := launch(t, "-c", upstreamBlocks, "--host", "127.0.0.1", "--port", "0")
	if code := p.wait(t, 10*time.Second); code != exitFailure {
		t.Fatalf("exit code %d, want %d", code, exitFailure)
	}
	if log := p.stderr.String(); !strings.Contains(log, "memory store cannot federate") || !strings.Contains(log, "global-api") {
		t.Errorf("the refusal does not say why, or which policy:\n%s", log)
	}
}

// withoutPolicy copies a policy file without one policy's lines (its name and the lines
// indented under it).
func withoutPolicy(t *testing.T, path, name string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	skipping := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "  "+name+":") {
			skipping = true
			continue
		}
		if skipping && strings.HasPrefix(line, "    ") {
			continue
		}
		skipping = false
		out = append(out, line)
	}
	copyPath := filepath.Join(t.TempDir(), "blocks.yaml")
	if err := os.WriteFile(copyPath, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return copyPath
}
