package servicedoor

import (
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/federation"
	"github.com/throttlekit/throttlekit-go/internal/keytable"
)

// Federated policies on the service door (two-tier.md §8): checks are spent from credits the
// door reserved with Fleet.Reserve, by the LeaseSpender rules (§5.1); a policy the server
// does not serve through Reserve is plain, and its checks are Check RPCs.

// BatchHeader is the Reserve response header naming the policy's federated batch.
const BatchHeader = "throttlekit-batch"

const (
	defaultBatch     = 16      // upstream's federated batch, until the server names the policy's
	maxReserveRounds = 1024    // the refresh loop's backstop (§5.1)
	maxKnownPolicies = 10_000  // the policy names whose kind the door remembers
	maxSpenders      = 100_000 // (policy, key) spenders, oldest out: eviction forfeits credits
)

// fleet holds the door's reserved credits and what it learned of each policy.
type fleet struct {
	rpc      contract.FleetClient
	secret   string // sent as x-fleet-secret when set
	mu       sync.Mutex
	kinds    map[string]policyKind
	spenders *keytable.Table[keySpender]
}

// policyKind is what a policy name turned out to be: served by Reserve (with its batch) or not.
type policyKind struct {
	plain bool
	batch int64
}

// keySpender is one (policy, key)'s credits. Holding lock is the key's single flight: one
// Reserve at a time, the other checks of the key waiting to spend what it brings.
type keySpender struct {
	lock chan struct{}
	sp   federation.LeaseSpender
}

func newFleet(conn grpc.ClientConnInterface, secret string) *fleet {
	return &fleet{rpc: contract.NewFleetClient(conn), secret: secret, kinds: map[string]policyKind{},
		spenders: keytable.New(maxSpenders, func(s *keySpender) {
			*s = keySpender{lock: make(chan struct{}, 1), sp: federation.LeaseSpender{WindowCoupled: true}}
		})}
}

// plain tells whether policy is known not to be served by Reserve.
func (f *fleet) plain(policy string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kinds[policy].plain
}

func (f *fleet) learn(policy string, k policyKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.kinds[policy]; !ok && len(f.kinds) >= maxKnownPolicies {
		clear(f.kinds) // forgetting only costs a Reserve to learn again
	}
	f.kinds[policy] = k
}

func (f *fleet) batch(policy string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.kinds[policy].batch; b > 0 {
		return b
	}
	return defaultBatch
}

func (f *fleet) spender(policy, key string) *keySpender {
	return f.spenders.Ensure(policy + "\x00" + key)
}

// spendClock is the instant credits are compared with: the call's explicit one, else now.
func spendClock(nowMs int64) int64 {
	if nowMs > 0 {
		return nowMs
	}
	return time.Now().UnixMilli()
}
