package front

import (
	"testing"

	"google.golang.org/grpc/codes"
)

// Every kind travels and comes back as itself, and no two kinds share a code.
func TestWireCodesRoundTrip(t *testing.T) {
	seen := map[codes.Code]error{}
	for _, w := range wireCodes {
		if other, dup := seen[w.code]; dup {
			t.Errorf("%v and %v share code %v", other, w.kind, w.code)
		}
		seen[w.code] = w.kind
		err := &Error{Kind: w.kind, Msg: "x"}
		if got := KindOf(CodeOf(err)); got != w.kind {
			t.Errorf("%v -> %v -> %v", w.kind, CodeOf(err), got)
		}
	}
	for code, kind := range codeAliases {
		if _, dup := seen[code]; dup {
			t.Errorf("alias %v is also a kind's own code", code)
		}
		if KindOf(code) != kind {
			t.Errorf("KindOf(%v) = %v, want %v", code, KindOf(code), kind)
		}
	}
	if CodeOf(nil) != codes.Internal || KindOf(codes.DataLoss) != ErrInternal {
		t.Error("an error or code of no kind must map to Internal")
	}
}
