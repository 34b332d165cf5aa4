package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

const fleetPolicies = `limiters:
  global: { strategy: fixedWindow, limit: 30, period: 1h, federated: { batch: 12, prefix: "%s" } }
  api: { strategy: fixedWindow, limit: 5, period: 1m }
`

// launchFleet serves fleetPolicies on the test Redis from host, its coordinator keys under a
// fresh prefix; it returns the port and the prefix.
func launchFleet(t *testing.T, host string, extra ...string) (port, prefix string) {
	t.Helper()
	prefix = testenv.Namespace(t) + ":fed"
	file := writeFile(t, "p.yaml", strings.ReplaceAll(fleetPolicies, "%s", prefix))
	p := launch(t, append([]string{"-c", file, "--host", host, "--port", "0", "--redis", testenv.URL(t)}, extra...)...)
	_, port, err := net.SplitHostPort(p.waitListening(t))
	if err != nil {
		t.Fatal(err)
	}
	return port, prefix
}

func reserve(t *testing.T, conn *grpc.ClientConn, req *contract.ReserveRequest, md ...string) (*contract.Lease, metadata.MD, error) {
	t.Helper()
	var header metadata.MD
	ctx := metadata.AppendToOutgoingContext(callCtx(t), md...)
	resp, err := contract.NewFleetClient(conn).Reserve(ctx, req, grpc.Header(&header))
	return resp.GetLease(), header, err
}

func wantStatus(t *testing.T, what string, err error, code codes.Code, inMessage string) {
	t.Helper()
	if st := status.Convert(err); st.Code() != code || !strings.Contains(st.Message(), inMessage) {
		t.Errorf("%s: %v; want %v with %q", what, err, code, inMessage)
	}
}

// The Lease fields of §6.3, grants up to the budget, the batch header, and the budget held in
// the coordinator HASH of the caller's domain.
func TestFleetReserveLeases(t *testing.T) {
	port, prefix := launchFleet(t, "127.0.0.1")
	conn := dial(t, net.JoinHostPort("127.0.0.1", port))
	rdb := testenv.Client(t)

	before := time.Now().UnixMilli()
	l, header, err := reserve(t, conn, &contract.ReserveRequest{Policy: "global", Caller: &contract.Caller{Domain: "tenant-a"}, Wants: 20})
	after := time.Now().UnixMilli()
	end := after/3_600_000*3_600_000 + 3_600_000
	if err != nil || l.GetCapacity() != 20 || l.GetSafeCapacity() != 20 || l.GetLimit() != 30 || l.GetExpiryMs() != end ||
		l.GetRetryAfterMs() != 0 || l.GetRefreshIntervalMs() > end-before || l.GetRefreshIntervalMs() < end-after {
		t.Fatalf("first Reserve: %+v, %v; want 20 of 30 until %d", l, err, end)
	}
	if got := header.Get("throttlekit-batch"); len(got) != 1 || got[0] != "12" {
		t.Errorf("throttlekit-batch header %v, want [12]", got)
	}
	if b := rdb.HGet(callCtx(t), prefix+":tenant-a", "budget").Val(); b != "10" {
		t.Errorf("coordinator budget %q after 20 of 30, want 10", b)
	}
	l, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "global", Caller: &contract.Caller{Domain: "tenant-a"}, Wants: 20})
	if err != nil || l.GetCapacity() != 10 {
		t.Fatalf("second Reserve: %+v, %v; want the 10 left", l, err)
	}
	l, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "global", Caller: &contract.Caller{Domain: "tenant-a"}})
	if err != nil || l.GetCapacity() != 0 || l.GetRetryAfterMs() <= 0 || l.GetRetryAfterMs() > end-before || l.GetLimit() != 30 {
		t.Fatalf("Reserve of a spent budget: %+v, %v; want capacity 0 and a retry until the window's end", l, err)
	}
	// No domain: the policy's name is the lease key; wants 0 asks for 1.
	l, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "global", Axis: contract.Axis_AXIS_TOKEN_BUDGET})
	if err != nil || l.GetCapacity() != 1 || rdb.HGet(callCtx(t), prefix+":global", "budget").Val() != "29" {
		t.Fatalf("Reserve without a domain: %+v, %v; want 1 from %s:global", l, err, prefix)
	}

	_, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "api"})
	wantStatus(t, "a plain policy", err, codes.NotFound, `fleet: no leasable policy "api"`)
	_, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "nope"})
	wantStatus(t, "an unknown policy", err, codes.NotFound, `fleet: no leasable policy "nope"`)
	_, _, err = reserve(t, conn, &contract.ReserveRequest{Policy: "global", Axis: contract.Axis_AXIS_CONCURRENCY})
	wantStatus(t, "the concurrency axis", err, codes.Unimplemented, "concurrency")
}

// Without a federated policy the service is as absent: UNIMPLEMENTED.
func TestFleetAbsentWithoutFederatedPolicies(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--redis", testenv.URL(t))
	_, _, err := reserve(t, dial(t, p.waitListening(t)), &contract.ReserveRequest{Policy: "api"})
	wantStatus(t, "Reserve", err, codes.Unimplemented, "")
}

// A coordinator that does not answer is INTERNAL.
func TestFleetCoordinatorDownIsInternal(t *testing.T) {
	r := testenv.StartRedis(t)
	file := writeFile(t, "p.yaml", strings.ReplaceAll(fleetPolicies, "%s", "tk:fed"))
	p := launch(t, "-c", file, "--host", "127.0.0.1", "--port", "0", "--redis", r.URL())
	conn := dial(t, p.waitListening(t))
	r.Kill()
	_, _, err := reserve(t, conn, &contract.ReserveRequest{Policy: "global", Wants: 1})
	wantStatus(t, "Reserve on a dead Redis", err, codes.Internal, "coordinator")
}

func TestFleetAccess(t *testing.T) {
	const secret = "fl33t-s3cret"
	req := &contract.ReserveRequest{Policy: "global", Caller: &contract.Caller{Domain: "d"}, Wants: 1}
	t.Run("loopback only without a secret", func(t *testing.T) {
		ip := nonLoopbackIP(t)
		port, _ := launchFleet(t, "0.0.0.0")
		if _, _, err := reserve(t, dial(t, net.JoinHostPort("127.0.0.1", port)), req); err != nil {
			t.Errorf("from loopback: %v", err)
		}
		remote := dial(t, net.JoinHostPort(ip, port))
		_, _, err := reserve(t, remote, req)
		wantStatus(t, "from "+ip, err, codes.Unauthenticated, "loopback")
		_, _, err = reserve(t, remote, req, "x-fleet-secret", secret)
		wantStatus(t, "from "+ip+" with a secret the server lacks", err, codes.Unauthenticated, "loopback")
		if _, err := contract.NewRateLimiterClient(remote).Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
			t.Errorf("RateLimiter from %s: %v", ip, err)
		}
	})
	for _, how := range []string{"flag", "env"} {
		t.Run("secret by "+how, func(t *testing.T) {
			var extra []string
			if how == "flag" {
				extra = []string{"--fleet-secret", secret}
			} else {
				t.Setenv(fleetSecretEnv, secret)
			}
			port, _ := launchFleet(t, "127.0.0.1", extra...)
			conn := dial(t, net.JoinHostPort("127.0.0.1", port))
			for what, md := range map[string][]string{
				"x-fleet-secret":       {"x-fleet-secret", secret},
				"Bearer":               {"authorization", "Bearer " + secret},
				"bearer in lower case": {"authorization", "bearer " + secret},
			} {
				if _, _, err := reserve(t, conn, req, md...); err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
			for what, md := range map[string][]string{
				"missing":                     nil,
				"wrong":                       {"x-fleet-secret", secret + "x"},
				"a prefix of it":              {"x-fleet-secret", secret[:4]},
				"wrong x-fleet, right bearer": {"x-fleet-secret", "nope", "authorization", "Bearer " + secret},
				"another scheme":              {"authorization", "Basic " + secret},
			} {
				_, _, err := reserve(t, conn, req, md...)
				wantStatus(t, what, err, codes.Unauthenticated, "fleet secret")
			}
		})
	}
}

// A reload that brings a federated policy to the memory store is refused; the old set stays.
func TestFleetMemoryStoreRefusesAReloadedFederatedPolicy(t *testing.T) {
	file := writeFile(t, "p.yaml", doorPolicies)
	p := launch(t, "-c", file, "--host", "127.0.0.1", "--port", "0")
	conn := dial(t, p.waitListening(t))
	if err := writeTo(file, strings.ReplaceAll(fleetPolicies, "%s", "tk:fed")); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "policy reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed reload in the log:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if log := p.stderr.String(); !strings.Contains(log, "memory store cannot federate") {
		t.Errorf("the reload's refusal does not say why:\n%s", log)
	}
	if _, err := contract.NewRateLimiterClient(conn).Check(callCtx(t), &contract.CheckRequest{Policy: "global", Key: "k"}); status.Code(err) != codes.NotFound {
		t.Errorf("global after the refused reload: %v; want NOT_FOUND (the old set stays)", err)
	}
	p.stop(t)
}
