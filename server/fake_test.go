package server_test

import (
	"bytes"
	"context"
	"sync"

	"github.com/throttlekit/throttlekit-go/client"
)

// fakeBackend answers every operation the same way and records how it was called, for what a
// real store cannot be made to do on demand: fail in each way, hang, panic.
type fakeBackend struct {
	err     error // returned by every call
	panicky any   // when non-nil, every call panics with it
	hang    bool  // every call waits for its context to end, then fails with ErrTimeout

	mu    sync.Mutex
	calls []call
}

type call struct {
	op    string
	nowMs int64 // 0 for the store's clock
	n     int64
}

func (f *fakeBackend) do(ctx context.Context, op string, nowMs, n int64) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{op, nowMs, n})
	f.mu.Unlock()
	if f.panicky != nil {
		panic(f.panicky)
	}
	if f.hang {
		<-ctx.Done()
		return &client.Error{Kind: client.ErrTimeout, Msg: "fake: the call's deadline passed", Cause: ctx.Err()}
	}
	return f.err
}

func (f *fakeBackend) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeBackend) decision(ctx context.Context, op string, nowMs, n int64) (client.Decision, error) {
	if err := f.do(ctx, op, nowMs, n); err != nil {
		return client.Decision{}, err
	}
	return client.Decision{Allowed: true, Limit: 9, Remaining: 8, ResetAt: nowMs + 1}, nil
}

func (f *fakeBackend) Check(ctx context.Context, _, _ string, cost int64) (client.Decision, error) {
	return f.decision(ctx, "Check", 0, cost)
}

func (f *fakeBackend) CheckAt(ctx context.Context, _, _ string, cost, nowMs int64) (client.Decision, error) {
	return f.decision(ctx, "Check", nowMs, cost)
}

func (f *fakeBackend) CheckMany(ctx context.Context, _ string, keys []string, cost int64) ([]client.Decision, error) {
	return f.many(ctx, keys, 0, cost)
}

func (f *fakeBackend) CheckManyAt(ctx context.Context, _ string, keys []string, cost, nowMs int64) ([]client.Decision, error) {
	return f.many(ctx, keys, nowMs, cost)
}

func (f *fakeBackend) many(ctx context.Context, keys []string, nowMs, cost int64) ([]client.Decision, error) {
	if err := f.do(ctx, "CheckMany", nowMs, cost); err != nil {
		return nil, err
	}
	out := make([]client.Decision, len(keys))
	for i := range keys {
		out[i] = client.Decision{Allowed: true, ResetAt: nowMs}
	}
	return out, nil
}

func (f *fakeBackend) CheckAll(ctx context.Context, items []client.CheckItem) ([]client.Decision, bool, error) {
	return f.all(ctx, items, 0)
}

func (f *fakeBackend) CheckAllAt(ctx context.Context, items []client.CheckItem, nowMs int64) ([]client.Decision, bool, error) {
	return f.all(ctx, items, nowMs)
}

func (f *fakeBackend) all(ctx context.Context, items []client.CheckItem, nowMs int64) ([]client.Decision, bool, error) {
	if err := f.do(ctx, "CheckAll", nowMs, int64(len(items))); err != nil {
		return nil, false, err
	}
	out := make([]client.Decision, len(items))
	for i := range items {
		out[i] = client.Decision{Allowed: true, ResetAt: nowMs}
	}
	return out, true, nil
}

func (f *fakeBackend) Refund(ctx context.Context, _, _ string, cost int64) (client.Decision, error) {
	return f.decision(ctx, "Refund", 0, cost)
}

func (f *fakeBackend) RefundAt(ctx context.Context, _, _ string, cost, nowMs int64) (client.Decision, error) {
	return f.decision(ctx, "Refund", nowMs, cost)
}

func (f *fakeBackend) Reset(ctx context.Context, _, _ string) error {
	return f.do(ctx, "Reset", 0, 0)
}

func (f *fakeBackend) Peek(ctx context.Context, _, _ string) (client.Decision, error) {
	return f.decision(ctx, "Peek", 0, 0)
}

func (f *fakeBackend) PeekAt(ctx context.Context, _, _ string, nowMs int64) (client.Decision, error) {
	return f.decision(ctx, "Peek", nowMs, 0)
}

func (f *fakeBackend) Forecast(ctx context.Context, _, _ string, cost int64) (client.Forecast, error) {
	return f.forecast(ctx, 0, cost)
}

func (f *fakeBackend) ForecastAt(ctx context.Context, _, _ string, cost, nowMs int64) (client.Forecast, error) {
	return f.forecast(ctx, nowMs, cost)
}

func (f *fakeBackend) forecast(ctx context.Context, nowMs, cost int64) (client.Forecast, error) {
	if err := f.do(ctx, "Forecast", nowMs, cost); err != nil {
		return client.Forecast{}, err
	}
	return client.Forecast{SpendableNow: 1, NextReplenishAt: nowMs + 2, FullAt: nowMs + 3}, nil
}

func (f *fakeBackend) Debit(ctx context.Context, _, _ string, tokens int64) (client.Decision, error) {
	return f.decision(ctx, "Debit", 0, tokens)
}

func (f *fakeBackend) DebitAt(ctx context.Context, _, _ string, tokens, nowMs int64) (client.Decision, error) {
	return f.decision(ctx, "Debit", nowMs, tokens)
}

func (f *fakeBackend) Close() error { return nil }

var _ client.Limiter = (*fakeBackend)(nil)

// logBuffer collects a logger's output; slog handlers may write from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
