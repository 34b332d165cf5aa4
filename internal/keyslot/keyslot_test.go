package keyslot

import "testing"

// Vectors from the Redis Cluster specification: CRC16 (XMODEM) of "123456789" is 0x31C3,
// and its hash-tag rules.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3},
		{"foo", 12182},
		{"{123456789}.anything", 0x31C3},
		{"a{{123456789}}", Of("{123456789")},
		{"x{123456789}{zap}", 0x31C3},
		{"", 0},
	} {
		if got := Of(c.key); got != c.want {
			t.Errorf("Of(%q) = %d, want %d", c.key, got, c.want)
		}
	}
	// An empty tag hashes the whole key.
	if Of("foo{}{123456789}") == 0x31C3 {
		t.Error("an empty {} must not make the next braces a tag")
	}
}
