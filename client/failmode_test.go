package client_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/policy"
)

func TestFailModeSynthesize(t *testing.T) {
	set, err := policy.Parse([]byte("limiters: {api: {strategy: gcra, limit: 100, period: 1m, burst: 20}}"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := set.Lookup("api")
	down := fmt.Errorf("wrapped: %w", &client.Error{Kind: client.ErrUnavailable, Msg: "redis: connection refused"})
	slow := &client.Error{Kind: client.ErrTimeout, Msg: "deadline"}
	cases := []struct {
		mode client.FailMode
		err  error
		want client.Decision
		ok   bool
	}{
		{client.FailOpen, down, client.Decision{Allowed: true, Limit: 20, Remaining: 20, Synthesized: true}, true},
		{client.FailOpen, slow, client.Decision{Allowed: true, Limit: 20, Remaining: 20, Synthesized: true}, true},
		{client.FailClosed, down, client.Decision{Allowed: false, Limit: 20, Remaining: 0, Synthesized: true}, true},
		{client.FailError, down, client.Decision{}, false},
		{client.FailOpen, &client.Error{Kind: client.ErrInternal, Msg: "WRONGTYPE"}, client.Decision{}, false},
		{client.FailOpen, &client.Error{Kind: client.ErrInvalidArgument, Msg: "cost"}, client.Decision{}, false},
		{client.FailClosed, errors.New("plain"), client.Decision{}, false},
	}
	for i, c := range cases {
		got, ok := c.mode.Synthesize(p.ReportedLimit(), c.err)
		if ok != c.ok || got != c.want {
			t.Errorf("case %d (%v, %v): got %+v %v, want %+v %v", i, c.mode, c.err, got, ok, c.want, c.ok)
		}
	}
}
