package bench

import (
	"testing"

	"github.com/throttlekit/throttlekit-go/client"
)

// An admit and its release (one slot of a pinned ceiling, which every admit gets) beside a
// plain check, on each door: the round trips concurrency admission costs over rate limiting.
const admissionPolicies = policies + "  slots: { concurrency: { minLimit: 10000, maxLimit: 10000 }, prefix: bench-tk-slots }\n"

func BenchmarkAdmitRelease(b *testing.B) {
	redisBackend, err := client.OpenRedis(redisURL(b), []byte(admissionPolicies), client.RedisOptions{}, client.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer redisBackend.Close()
	engine, err := client.OpenEngine([]byte(admissionPolicies), client.EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	addr, stop := serve(b, engine)
	defer stop()
	service, err := client.OpenService(addr, client.ServiceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer service.Close()

	doors := []struct {
		name string
		l    interface {
			client.Limiter
			client.Admitter
		}
	}{{"redis", redisBackend}, {"engine", engine}, {"service", service}}
	for _, d := range doors {
		b.Run(d.name+"/check", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := d.l.Check(ctx, "api", keys[i%keySpace], 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(d.name+"/admit+release", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				a, err := d.l.Admit(ctx, "slots", keys[i%keySpace], 1)
				if err != nil || !a.Decision.Allowed {
					b.Fatalf("admit: %+v, %v", a, err)
				}
				if err := d.l.Release(ctx, "slots", keys[i%keySpace], a.LeaseID, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
