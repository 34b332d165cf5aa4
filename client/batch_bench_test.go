package client_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// CheckMany of n distinct keys on the Redis door and the embedded engine (one call per op).
func BenchmarkCheckMany(b *testing.B) {
	const yaml = "limiters:\n  p: { strategy: fixedWindow, limit: 1000000000, windowMs: 1h }\n"
	redisDoor, err := client.OpenRedis(testenv.URL(b), []byte(yaml), client.RedisOptions{Namespace: testenv.Namespace(b)},
		client.ConnectOptions{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer redisDoor.Close()
	engineDoor, err := client.OpenEngine([]byte(yaml), client.EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer engineDoor.Close()
	for _, door := range []struct {
		name string
		l    client.Limiter
	}{{"redis", redisDoor}, {"engine", engineDoor}} {
		for _, n := range []int{10, 1000} {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
			}
			b.Run(door.name+"/keys="+strconv.Itoa(n), func(b *testing.B) {
				for b.Loop() {
					if _, err := door.l.CheckMany(ctx, "p", keys, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
