package rediscluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT.
	for key, want := range map[string]int{"foo": 12182, "somekey": 11058, "{foo}bar": 12182, "a{}b": 13694, "": 0} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// The administration helpers on a cluster behind TLS and a password: the nodes refuse a
// plain connection and an anonymous one, redis-cli reshards (REDISCLI_AUTH, --tls), and a
// slot migrated by hand carries its key (MIGRATE ... AUTH).
func TestSecureClusterAdmin(t *testing.T) {
	const password = "adm:s3cret@x/y"
	c := StartClusterWith(t, 3, 0, Options{Password: password, TLS: true})
	if c.CAFile() == "" || !strings.HasPrefix(c.URL(), "rediss+cluster://:adm:s3cret@x%2Fy@127.0.0.1:") {
		t.Fatalf("CAFile %q, URL %q", c.CAFile(), c.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := c.Masters(t)
	plain := redis.NewClient(&redis.Options{Addr: m[0].Addr, Password: password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Errorf("plain TCP PING answered")
	}
	anon := redis.NewClient(&redis.Options{Addr: m[0].Addr, TLSConfig: m[0].tlsConfig, MaxRetries: -1})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without the password: %v", err)
	}

	c.Reshard(t, m[0], m[1], 10)
	if got := len(c.SlotsOf(t, m[1])); got != 16384/3+10 && got != 16384/3+1+10 {
		t.Errorf("%s serves %d slots after the reshard", m[1].Addr, got)
	}
	key := "{mig}k"
	slot := Slot(key)
	from := c.Owner(t, slot)
	to := m[0]
	if to == from {
		to = m[2]
	}
	if err := from.Client().Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.BeginMigration(t, slot, from, to).Finish(t)
	if owner := c.Owner(t, slot); owner != to {
		t.Fatalf("slot %d on %s, want %s", slot, owner.Addr, to.Addr)
	}
	if v, err := to.Client().Get(ctx, key).Result(); err != nil || v != "v" {
		t.Fatalf("the migrated key on %s: %q, %v", to.Addr, v, err)
	}
}
