package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

const fleetDoorPolicies = `limiters:
  global: { strategy: fixedWindow, limit: 30, period: 1h, federated: { batch: 12 } }
  big: { strategy: fixedWindow, limit: 1000, period: 1h, federated: { batch: 25, prefix: "tk:big" } }
  api: { strategy: fixedWindow, limit: 5, period: 1h }
`

// fleetDoor serves fleetDoorPolicies from a Redis of the test's own (so that its script
// calls count Reserves: one LEASE each) and opens the service door on it.
func fleetDoor(t *testing.T) (*client.ServiceBackend, *redis.Client) {
	t.Helper()
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	lease, _ := luascripts.Lookup(luascripts.Federated, luascripts.RoleLease)
	if err := rdb.ScriptLoad(callCtx(t), lease.Source).Err(); err != nil { // a NOSCRIPT miss would count twice
		t.Fatal(err)
	}
	p := launch(t, "-c", writeFile(t, "p.yaml", fleetDoorPolicies), "--host", "127.0.0.1", "--port", "0", "--redis", r.URL())
	return openService(t, p.waitListening(t), client.ServiceOptions{}), rdb
}

// leaseCalls is how many scripts the Redis ran: here, how many Reserves reached the coordinator.
func leaseCalls(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info := rdb.Info(callCtx(t), "commandstats").Val()
	n := 0
	for _, line := range strings.Split(info, "\n") {
		name, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
			calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			c, _ := strconv.Atoi(calls)
			n += c
		}
	}
	return n
}

// 30 checks spend a budget of 30 with 3 Reserves (16 by default, then the server's batch of
// 12, then the 2 left); the fourth Reserve is granted 0, which is the server's denial.
func TestServiceDoorSpendsReservedCredits(t *testing.T) {
	b, rdb := fleetDoor(t)
	ctx := callCtx(t)
	end := time.Now().UnixMilli()/3_600_000*3_600_000 + 3_600_000
	local := 0
	for i := range 30 {
		d, err := b.Check(ctx, "global", "tenant", 1)
		if err != nil || !d.Allowed || d.Limit != 30 || d.ResetAt != end {
			t.Fatalf("check %d: %+v, %v", i, d, err)
		}
		if d.Local {
			local++
		}
	}
	if n := leaseCalls(t, rdb); n != 3 {
		t.Errorf("%d Reserves for 30 checks, want 3", n)
	}
	if local != 27 {
		t.Errorf("%d checks flagged Local, want 27 (all but the 3 that reserved)", local)
	}
	d, err := b.Check(ctx, "global", "tenant", 1)
	if err != nil || d.Allowed || d.Limit != 30 || d.Remaining != 0 || d.ResetAt != end || d.RetryAfterMs <= 0 || d.RetryAfterMs > 3_600_000 || d.Local {
		t.Fatalf("check 31: %+v, %v; want the server's denial until %d", d, err, end)
	}
	if n := leaseCalls(t, rdb); n != 4 {
		t.Errorf("%d Reserves after the denial, want 4", n)
	}
	if got := rdb.HGet(ctx, "tk:fed:tenant", "budget").Val(); got != "0" {
		t.Errorf("coordinator budget %q, want 0", got)
	}
}

// Concurrent checks of one key share Reserves: 50 checks, at most 3 (16 + 25 + 25 ≥ 50).
func TestServiceDoorSingleFlightReserve(t *testing.T) {
	b, rdb := fleetDoor(t)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if d, err := b.Check(context.Background(), "big", "hot", 1); err != nil || !d.Allowed {
				t.Errorf("%+v, %v", d, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := leaseCalls(t, rdb); n > 3 {
		t.Errorf("%d Reserves for 50 concurrent checks of one key, want at most 3", n)
	}
}

// A plain policy through the same door is checked by the Check RPC (its own limit and
// denial), and has no explicit clock; a federated policy spends on the explicit instant.
func TestServiceDoorPlainAndFederatedSideBySide(t *testing.T) {
	b, rdb := fleetDoor(t)
	ctx := callCtx(t)
	for i := range 6 {
		d, err := b.Check(ctx, "api", "k", 1)
		if err != nil || d.Allowed != (i < 5) || d.Limit != 5 || d.Local {
			t.Fatalf("plain check %d: %+v, %v", i, d, err)
		}
	}
	if _, err := b.CheckAt(ctx, "api", "k", 1, 1000); !errors.Is(err, client.ErrUnsupported) {
		t.Errorf("CheckAt on a plain policy: %v, want unsupported", err)
	}
	now := time.Now().UnixMilli()
	d, err := b.CheckAt(ctx, "global", "at", 1, now)
	if err != nil || !d.Allowed || d.Local {
		t.Fatalf("CheckAt: %+v, %v", d, err)
	}
	before := leaseCalls(t, rdb)
	if d, err = b.CheckAt(ctx, "global", "at", 1, now+1); err != nil || !d.Allowed || !d.Local {
		t.Fatalf("CheckAt from credits: %+v, %v", d, err)
	}
	// At the lease's expiry the credits are discarded: a new Reserve.
	if d, err = b.CheckAt(ctx, "global", "at", 1, d.ResetAt); err != nil || d.Local || leaseCalls(t, rdb) != before+1 {
		t.Fatalf("CheckAt at the expiry: %+v, %v, %d Reserves since", d, err, leaseCalls(t, rdb)-before)
	}
}

// CheckMany spends in input order (a reserves the default 16, b the server's batch of 12);
// StartCheck answers from a Reserve, then from credits.
func TestServiceDoorCheckManyAndStartCheck(t *testing.T) {
	b, rdb := fleetDoor(t)
	ctx := callCtx(t)
	ds, err := b.CheckMany(ctx, "global", []string{"a", "b", "a"}, 2)
	if err != nil || len(ds) != 3 {
		t.Fatalf("CheckMany: %v, %v", ds, err)
	}
	if ds[0].Remaining != 14 || ds[1].Remaining != 10 || ds[2].Remaining != 12 || !ds[2].Local || ds[0].Local {
		t.Errorf("CheckMany decisions %+v", ds)
	}
	if n := leaseCalls(t, rdb); n != 2 {
		t.Errorf("%d Reserves for keys a, b, a; want 2", n)
	}
	for _, want := range []bool{false, true} {
		w := make(chanWaiter, 1)
		b.StartCheck(ctx, "global", "started", 1, 0, w)
		select {
		case r := <-w:
			if r.err != nil || !r.d.Allowed || r.d.Local != want {
				t.Errorf("StartCheck: %+v, %v; want allowed, Local %v", r.d, r.err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("StartCheck never completed")
		}
	}
}

type waited struct {
	d   client.Decision
	err error
}

type chanWaiter chan waited

func (w chanWaiter) Done(d client.Decision, err error) { w <- waited{d, err} }

// With --fleet-secret, a door holding the secret spends reserved credits; a door without it
// is refused Reserve and checks the policy with Check RPCs instead (no lease is taken).
func TestServiceDoorFleetSecret(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	const secret = "d00r-s3cret"
	p := launch(t, "-c", writeFile(t, "p.yaml", fleetDoorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", r.URL(), "--fleet-secret", secret)
	addr := p.waitListening(t)
	ctx := callCtx(t)

	without := openService(t, addr, client.ServiceOptions{})
	for range 3 {
		// The server's answer to a Check RPC: its Tier 1's allow, or, while the server's door
		// has no Federation wired in, its refusal naming the federated block.
		d, err := without.Check(ctx, "global", "other", 1)
		if checkAnswer := (err == nil && d.Allowed && !d.Local) ||
			(errors.Is(err, client.ErrUnsupported) && strings.Contains(err.Error(), "federated")); !checkAnswer {
			t.Fatalf("without the secret: %+v, %v; want the server's answer to a Check RPC", d, err)
		}
	}

	with := openService(t, addr, client.ServiceOptions{FleetSecret: secret})
	local := 0
	for range 3 {
		d, err := with.Check(ctx, "global", "k", 1)
		if err != nil || !d.Allowed {
			t.Fatalf("with the secret: %+v, %v", d, err)
		}
		if d.Local {
			local++
		}
	}
	if local != 2 || rdb.HGet(ctx, "tk:fed:k", "budget").Val() != "14" {
		t.Errorf("with the secret: %d local checks, budget %q; want 2 and 14 (one Reserve of 16)",
			local, rdb.HGet(ctx, "tk:fed:k", "budget").Val())
	}
}

// StartCheck of a policy the door has not learned yet needs a Reserve: against a server that
// never answers, StartCheck still returns at once, and the waiter hears the timeout later.
func TestServiceDoorStartCheckNeverBlocks(t *testing.T) {
	addr := testenv.SilentRedis(t) // a TCP peer that accepts and never speaks
	b := openService(t, addr, client.ServiceOptions{Timeout: 300 * time.Millisecond})
	w := make(chanWaiter, 1)
	start := time.Now()
	b.StartCheck(context.Background(), "global", "k", 1, 0, w)
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("StartCheck took %v: it must not wait for the Reserve", took)
	}
	select {
	case r := <-w:
		if r.err == nil {
			t.Errorf("a silent server answered %+v", r.d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never heard back")
	}
}

// With --auth-token-file as well, a Reserve needs the token and the fleet secret: the door
// sends the first as its bearer token, the second as x-fleet-secret.
func TestServiceDoorFleetSecretBesideAToken(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	p := launch(t, "-c", writeFile(t, "p.yaml", fleetDoorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--redis", r.URL(), "--fleet-secret", "f-secret", "--auth-token-file", writeFile(t, "token", "t-token\n"))
	b := openService(t, p.waitListening(t), client.ServiceOptions{AuthToken: "t-token", FleetSecret: "f-secret"})
	ctx := callCtx(t)
	for i := range 2 {
		if d, err := b.Check(ctx, "global", "both", 1); err != nil || !d.Allowed || d.Local != (i == 1) {
			t.Fatalf("check %d: %+v, %v", i, d, err)
		}
	}
	if got := rdb.HGet(ctx, "tk:fed:both", "budget").Val(); got != "14" {
		t.Errorf("coordinator budget %q, want 14 (one Reserve of 16)", got)
	}
}
