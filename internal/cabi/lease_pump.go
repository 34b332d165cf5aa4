package cabi

import (
	"context"
	"sync"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/front"
)

// A leasePump renews, in the background, the leases tk_admit issued on one handle until they
// are released through it or the handle is freed (tk_options_t.lease_heartbeat): an nginx
// request streaming for minutes keeps its slot without a timer of its own. A lease the
// store no longer holds is dropped from the renewals; the store's TTL remains the backstop
// if the process dies.
type leasePump struct {
	door     front.Door
	interval time.Duration
	timeout  time.Duration

	mu     sync.Mutex
	leases map[string]guardOf

	stop chan struct{}
	done chan struct{}
}

// guardOf is the policy and key a lease was admitted with.
type guardOf struct{ policy, key string }

func newLeasePump(door front.Door, ttl, timeout time.Duration) *leasePump {
	p := &leasePump{door: door, interval: max(ttl/2, 10*time.Millisecond), timeout: timeout,
		leases: map[string]guardOf{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *leasePump) add(id, policy, key string) {
	p.mu.Lock()
	p.leases[id] = guardOf{policy, key}
	p.mu.Unlock()
}

func (p *leasePump) remove(id string) {
	p.mu.Lock()
	delete(p.leases, id)
	p.mu.Unlock()
}

func (p *leasePump) run() {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.beat()
		}
	}
}

// beat renews every lease held, one Heartbeat per guard. A failed beat is retried at the
// next tick: with a half-TTL interval one failure costs no lease.
func (p *leasePump) beat() {
	groups := map[guardOf][]string{}
	p.mu.Lock()
	for id, g := range p.leases {
		groups[g] = append(groups[g], id)
	}
	p.mu.Unlock()
	for g, ids := range groups {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		hb, err := p.door.Heartbeat(ctx, g.policy, g.key, ids, 0)
		cancel()
		if err != nil {
			continue
		}
		for _, id := range hb.Reclaimed {
			p.remove(id)
		}
	}
}

// close stops the renewals and waits for a beat in progress; the leases then expire.
func (p *leasePump) close() {
	close(p.stop)
	<-p.done
}
