package front

import (
	"strconv"
	"testing"
)

func TestQuotedIsStrconvQuote(t *testing.T) {
	for _, s := range []string{"", "api", "with space", `q"uote`, `back\slash`, "tab\t", "é", "\x7f", "\x00"} {
		if got, want := quoted(s), strconv.Quote(s); got != want {
			t.Errorf("quoted(%q) = %s, want %s", s, got, want)
		}
	}
}
