package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/throttlekit/throttlekit-go/contract"
)

func TestColdBurstAdmitsBurstThenDenies(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		for i := range 5 {
			r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: 1})
			if err != nil {
				t.Fatalf("check %d: %v", i, err)
			}
			d := r.GetDecision()
			if !d.GetAllowed() || d.GetLimit() != 5 || d.GetRemaining() != int64(4-i) || d.GetRetryAfterMs() != 0 || d.GetResetAt() <= 0 {
				t.Fatalf("check %d: %v, want allowed with limit 5, remaining %d", i, d, 4-i)
			}
		}
		r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: 1})
		if err != nil {
			t.Fatalf("a denial must be a normal response: %v", err)
		}
		if d := r.GetDecision(); d.GetAllowed() || d.GetRemaining() != 0 || d.GetRetryAfterMs() <= 0 {
			t.Fatalf("check 6: %v, want denied with remaining 0 and retry_after_ms > 0", d)
		}
	})
}

func TestKeysAreIndependent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "a", Cost: 5}); err != nil {
			t.Fatal(err)
		}
		a, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "a"})
		if err != nil || a.GetDecision().GetAllowed() {
			t.Fatalf("key a after spending its burst: %v, %v; want denied", a.GetDecision(), err)
		}
		b, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "b"})
		if err != nil || !b.GetDecision().GetAllowed() || b.GetDecision().GetRemaining() != 4 {
			t.Fatalf("key b: %v, %v; want a fresh key's first admission", b.GetDecision(), err)
		}
	})
}

func TestCheckManyOrderAndDuplicates(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		// "used" starts with 3 of its 5 spent, so order shows in the remainders.
		if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "used", Cost: 3}); err != nil {
			t.Fatal(err)
		}
		r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"fresh", "used", "fresh", "used", "used"}})
		if err != nil {
			t.Fatal(err)
		}
		type got struct {
			allowed   bool
			remaining int64
		}
		want := []got{{true, 4}, {true, 1}, {true, 3}, {true, 0}, {false, 0}}
		ds := r.GetDecisions()
		if len(ds) != len(want) {
			t.Fatalf("%d decisions for 5 keys", len(ds))
		}
		for i, d := range ds {
			if (got{d.GetAllowed(), d.GetRemaining()}) != want[i] {
				t.Errorf("decision %d: %v, want allowed=%v remaining=%d", i, d, want[i].allowed, want[i].remaining)
			}
		}
		if ds[4].GetRetryAfterMs() <= 0 {
			t.Errorf("the denied duplicate has retry_after_ms %d, want > 0", ds[4].GetRetryAfterMs())
		}
	})
}

func TestCheckManyEmptyList(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(r.GetDecisions()); n != 0 {
			t.Fatalf("%d decisions for no keys", n)
		}
	})
}

func TestPeekDoesNotConsume(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: 2}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			r, err := c.Peek(ctx, &contract.PeekRequest{Policy: "api", Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			if d := r.GetDecision(); !d.GetAllowed() || d.GetRemaining() != 3 || d.GetLimit() != 5 {
				t.Fatalf("peek %d: %v, want allowed, remaining 3 of 5", i, d)
			}
		}
		r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"})
		if err != nil || r.GetDecision().GetRemaining() != 2 {
			t.Fatalf("check after peeks: %v, %v; want remaining 2", r.GetDecision(), err)
		}
	})
}

func TestForecast(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		fresh, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "api", Key: "k", Cost: 1})
		if err != nil {
			t.Fatal(err)
		}
		if f := fresh.GetForecast(); f.GetSpendableNow() != 5 {
			t.Fatalf("fresh key: %v, want spendable_now 5", f)
		}
		if _, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: 2}); err != nil {
			t.Fatal(err)
		}
		for range 2 { // twice: a forecast consumes nothing
			r, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "api", Key: "k", Cost: 1})
			if err != nil {
				t.Fatal(err)
			}
			f := r.GetForecast()
			if f.GetSpendableNow() != 3 || f.GetNextReplenishAt() <= 0 || f.GetFullAt() < f.GetNextReplenishAt() {
				t.Fatalf("after spending 2: %v, want spendable_now 3 and full_at >= next_replenish_at > 0", f)
			}
		}
		// Cost 2: how many checks of that size pass.
		r, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "api", Key: "k", Cost: 2})
		if err != nil || r.GetForecast().GetSpendableNow() != 1 {
			t.Fatalf("cost 2: %v, %v; want spendable_now 1", r.GetForecast(), err)
		}
	})
}

func TestDebitAndPeekOnMeter(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		r, err := c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: "team", Tokens: 300})
		if err != nil {
			t.Fatal(err)
		}
		if d := r.GetDecision(); !d.GetAllowed() || d.GetLimit() != 1000 || d.GetRemaining() != 700 {
			t.Fatalf("debit 300: %v, want allowed, 700 of 1000 left", d)
		}
		for range 2 {
			p, err := c.Peek(ctx, &contract.PeekRequest{Policy: "llm", Key: "team"})
			if err != nil {
				t.Fatal(err)
			}
			if d := p.GetDecision(); d.GetRemaining() != 700 || d.GetLimit() != 1000 {
				t.Fatalf("budget peek: %v, want 700 of 1000 left", d)
			}
		}
	})
}

func TestOperationsThatDoNotApplyAreUnimplemented(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		_, err := c.Debit(ctx, &contract.DebitRequest{Policy: "api", Key: "k", Tokens: 1})
		wantCode(t, err, codes.Unimplemented, "api")
		_, err = c.Check(ctx, &contract.CheckRequest{Policy: "llm", Key: "k"})
		wantCode(t, err, codes.Unimplemented, "llm")
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "llm", Keys: []string{"k"}})
		wantCode(t, err, codes.Unimplemented, "llm")
		_, err = c.Forecast(ctx, &contract.ForecastRequest{Policy: "llm", Key: "k"})
		wantCode(t, err, codes.Unimplemented, "llm")
		_, err = c.Check(ctx, &contract.CheckRequest{Policy: "monthly", Key: "k"})
		wantCode(t, err, codes.Unimplemented, "fairEscrow")
	})
}

func TestUnknownPolicyIsNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		_, err := c.Check(ctx, &contract.CheckRequest{Policy: "nope", Key: "k"})
		wantCode(t, err, codes.NotFound, "nope", "api", "llm", "monthly")
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "nope", Keys: []string{"k"}})
		wantCode(t, err, codes.NotFound, "api")
		_, err = c.Peek(ctx, &contract.PeekRequest{Policy: "nope", Key: "k"})
		wantCode(t, err, codes.NotFound, "api")
		_, err = c.Forecast(ctx, &contract.ForecastRequest{Policy: "nope", Key: "k"})
		wantCode(t, err, codes.NotFound, "api")
		_, err = c.Debit(ctx, &contract.DebitRequest{Policy: "nope", Key: "k"})
		wantCode(t, err, codes.NotFound, "llm")
	})
}

func TestInvalidArguments(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		const tooBig = 1 << 53
		_, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: tooBig})
		wantCode(t, err, codes.InvalidArgument, "cost")
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"k"}, Cost: tooBig})
		wantCode(t, err, codes.InvalidArgument, "cost")
		_, err = c.Forecast(ctx, &contract.ForecastRequest{Policy: "api", Key: "k", Cost: tooBig})
		wantCode(t, err, codes.InvalidArgument, "cost")
		_, err = c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: "k", Tokens: tooBig})
		wantCode(t, err, codes.InvalidArgument, "tokens")

		_, err = c.Check(ctx, &contract.CheckRequest{Policy: "", Key: "k"})
		wantCode(t, err, codes.InvalidArgument, "policy")
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Keys: []string{"k"}})
		wantCode(t, err, codes.InvalidArgument, "policy")
		_, err = c.Peek(ctx, &contract.PeekRequest{Key: "k"})
		wantCode(t, err, codes.InvalidArgument, "policy")

		long := strings.Repeat("x", 5000)
		_, err = c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: long})
		wantCode(t, err, codes.InvalidArgument, "5000")
		_, err = c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"ok", long}})
		wantCode(t, err, codes.InvalidArgument, "keys[1]")
		_, err = c.Peek(ctx, &contract.PeekRequest{Policy: "api", Key: long})
		wantCode(t, err, codes.InvalidArgument, "5000")
		_, err = c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: long})
		wantCode(t, err, codes.InvalidArgument, "5000")

		// Nothing of the refused batch was applied: "ok" is still fresh.
		r, err := c.Peek(ctx, &contract.PeekRequest{Policy: "api", Key: "ok"})
		if err != nil || r.GetDecision().GetRemaining() != 5 {
			t.Fatalf("after a refused batch: %v, %v; want key ok untouched", r.GetDecision(), err)
		}
	})
}

func TestZeroAndNegativeAmountsMeanOne(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, ctx := serveBackend(t, open), callCtx(t)
		for i, cost := range []int64{0, -5, 0, -1 << 62} {
			r, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k", Cost: cost})
			if err != nil {
				t.Fatalf("cost %d: %v", cost, err)
			}
			if got := r.GetDecision().GetRemaining(); got != int64(4-i) {
				t.Fatalf("cost %d: remaining %d, want %d (one unit spent)", cost, got, 4-i)
			}
		}
		r, err := c.CheckMany(ctx, &contract.CheckManyRequest{Policy: "api", Keys: []string{"m"}, Cost: -5})
		if err != nil || r.GetDecisions()[0].GetRemaining() != 4 {
			t.Fatalf("CheckMany cost -5: %v, %v; want one unit spent", r.GetDecisions(), err)
		}
		f, err := c.Forecast(ctx, &contract.ForecastRequest{Policy: "api", Key: "fresh", Cost: -5})
		if err != nil || f.GetForecast().GetSpendableNow() != 5 {
			t.Fatalf("Forecast cost -5: %v, %v; want spendable_now 5 (cost 1)", f.GetForecast(), err)
		}
		for i, tokens := range []int64{0, -5} {
			d, err := c.Debit(ctx, &contract.DebitRequest{Policy: "llm", Key: "k", Tokens: tokens})
			if err != nil {
				t.Fatalf("tokens %d: %v", tokens, err)
			}
			if got := d.GetDecision().GetRemaining(); got != int64(999-i) {
				t.Fatalf("tokens %d: remaining %d, want %d (one token spent)", tokens, got, 999-i)
			}
		}
	})
}
