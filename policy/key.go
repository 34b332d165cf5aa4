package policy

import (
	"fmt"
	"strings"
)

// MaxKeyBytes bounds the caller's key, measured before any prefix is added.
const MaxKeyBytes = 4096

// ValidateKey enforces the key rule shared by every door: at most MaxKeyBytes bytes and no
// NUL byte (the C ABI passes keys as C strings, so a NUL would silently cut the key short).
// Any other bytes, including invalid UTF-8, are fine for Redis.
func ValidateKey(key string) error {
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("key is %d bytes; the most allowed is %d", len(key), MaxKeyBytes)
	}
	if i := strings.IndexByte(key, 0); i >= 0 {
		return fmt.Errorf("key contains a NUL byte at offset %d", i)
	}
	return nil
}

// RedisKey builds `[namespace ":"] Prefix ":" key`, adding each ":" only after a non-empty
// part, so that `prefix: ""` addresses exactly the keys another client already uses.
func (p *Policy) RedisKey(namespace, key string) string {
	var b strings.Builder
	b.Grow(len(namespace) + len(p.Prefix) + len(key) + 2)
	if namespace != "" {
		b.WriteString(namespace)
		b.WriteByte(':')
	}
	if p.Prefix != "" || p.JoinAlways {
		b.WriteString(p.Prefix)
		b.WriteByte(':')
	}
	b.WriteString(key)
	return b.String()
}
