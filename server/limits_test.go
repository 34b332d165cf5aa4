package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/server"
)

// manyPolicies is a policy file of n gcra limiters named p000000, p000001, ...
func manyPolicies(n int) string {
	var b strings.Builder
	b.WriteString("limiters:\n")
	for i := range n {
		fmt.Fprintf(&b, "  p%06d: { strategy: gcra, limit: 10, period: 1m, burst: 5 }\n", i)
	}
	return b.String()
}

// wantBounded fails unless err is a status with code, a message of at most 1,024 bytes, and
// every part in its message.
func wantBounded(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	wantCode(t, err, code, parts...)
	if msg := status.Convert(err).Message(); len(msg) > server.MaxMessageBytes {
		t.Errorf("the %s message is %d bytes, more than %d: %.200q…", code, len(msg), server.MaxMessageBytes, msg)
	}
}

// A caller's 8 KB policy name, and a file of 100,000 policies, still give a NOT_FOUND the
// client receives, at most 1,024 bytes: the name cut with its length, the list cut after a
// few names with the count of the rest.
func TestNotFoundMessageIsBounded(t *testing.T) {
	long := strings.Repeat("n", 8192)
	c, ctx := serve(t, server.New(openEngine(t, manyPolicies(100_000)), server.Options{})), callCtx(t)
	_, err := c.Check(ctx, &contract.CheckRequest{Policy: long, Key: "k"})
	wantBounded(t, err, codes.NotFound, `"`+strings.Repeat("n", 64)+`"… (8192 bytes)`,
		"configured: p000000, p000001, p000002, p000003, p000004, and 99995 more)")
	_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "nope", Keys: []string{"k"}})
	wantBounded(t, err, codes.NotFound, `"nope"`, "and 99995 more")

	// Escaping cannot blow the bound either: every byte of this name quotes as \x01.
	_, err = c.Peek(ctx, &contract.PeekRequest{Policy: strings.Repeat("\x01", 8192), Key: "k"})
	wantBounded(t, err, codes.NotFound, `\x01`)
}

// Configured names are operators' and may be long too: the list cuts each one, and an
// unsupported policy's message cuts the name it quotes.
func TestLongConfiguredNamesAreCut(t *testing.T) {
	long := strings.Repeat("m", 8192)
	// (YAML wants the explicit "? key" form for keys over 1,024 characters.)
	yaml := "limiters:\n  ? " + long + "\n  : { fairEscrow: { anything: goes } }\n" +
		"  ? " + strings.Repeat("z", 5000) + "\n  : { strategy: gcra, limit: 1, period: 1m }\n"
	c, ctx := serve(t, server.New(openEngine(t, yaml), server.Options{})), callCtx(t)
	_, err := c.Check(ctx, &contract.CheckRequest{Policy: "nope", Key: "k"})
	wantBounded(t, err, codes.NotFound, strings.Repeat("m", 32)+"…, "+strings.Repeat("z", 32)+"…)")
	_, err = c.Check(ctx, &contract.CheckRequest{Policy: long, Key: "k"})
	wantBounded(t, err, codes.Unimplemented, "(8192 bytes)")
}

// Over the cap, CheckMany is INVALID_ARGUMENT naming the cap, whatever the fail mode, and
// charges nothing; at the cap it answers.
func TestCheckManyKeyCap(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		b := open(t, testPolicies)
		c, ctx := serve(t, server.New(b, server.Options{FailMode: client.FailOpen, MaxKeysPerCall: 3})), callCtx(t)
		_, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"a", "a", "a", "a"}})
		wantBounded(t, err, codes.InvalidArgument, "at most 3 keys", "got 4")
		if d, err := b.Peek(ctx, "api", "a"); err != nil || d.Remaining != 5 {
			t.Fatalf("after the refused batch: %+v, %v; want nothing charged (remaining 5)", d, err)
		}
		r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"a", "a", "a"}})
		if err != nil || len(r.GetDecisions()) != 3 || r.GetDecisions()[2].GetRemaining() != 2 {
			t.Fatalf("a batch at the cap: %v, %v", r.GetDecisions(), err)
		}
	})
}

func TestCheckManyDefaultCap(t *testing.T) {
	c, ctx := serve(t, server.New(&fakeBackend{}, server.Options{})), callCtx(t)
	keys := make([]string, server.DefaultMaxKeysPerCall+1)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	_, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: keys})
	wantBounded(t, err, codes.InvalidArgument, "at most 1000 keys")
	if _, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "p", Keys: keys[:1000]}); err != nil {
		t.Fatalf("1,000 keys: %v", err)
	}
}

// The embedded engine timing out is the server's own work not finishing, not a store outage:
// --fail open must not admit it (nor closed deny it); the caller gets UNAVAILABLE.
func TestFailModeNeverAnswersForTheInProcessStore(t *testing.T) {
	for _, mode := range []client.FailMode{client.FailOpen, client.FailClosed} {
		t.Run(mode.String(), func(t *testing.T) {
			b := openEngine(t, testPolicies)
			c, ctx := serve(t, server.New(b, server.Options{FailMode: mode, Timeout: time.Nanosecond})), callCtx(t)
			var md metadata.MD
			r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}, grpc.Header(&md))
			if err == nil {
				t.Fatalf("Check answered %v (synthesized header %v); want UNAVAILABLE", r.GetDecision(), md.Get(client.SynthesizedHeader))
			}
			wantBounded(t, err, codes.Unavailable, "the server could not finish")
			rm, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"a", "b"}}, grpc.Header(&md))
			if err == nil {
				t.Fatalf("CheckMany answered %v (synthesized header %v); want UNAVAILABLE", rm.GetDecisions(), md.Get(client.SynthesizedHeader))
			}
			wantCode(t, err, codes.Unavailable)
		})
	}
}

// Whatever a backend's message, the status carries at most 1,024 bytes of it, cut with "…"
// at a character boundary.
func TestEveryErrorMessageIsBounded(t *testing.T) {
	long := strings.Repeat("é", 3000) // 2 bytes each: a cut could split one
	f := &fakeBackend{err: &client.Error{Kind: client.ErrInvalidArgument, Msg: long}}
	_, err := serve(t, server.New(f, server.Options{})).Check(callCtx(t), &contract.CheckRequest{Policy: "p", Key: "k"})
	wantBounded(t, err, codes.InvalidArgument, "éé…")
	if msg := status.Convert(err).Message(); !strings.HasSuffix(msg, "é…") || !utf8.ValidString(msg) {
		t.Errorf("the cut message ends %q (valid UTF-8: %v)", msg[len(msg)-8:], utf8.ValidString(msg))
	}
}
