package client

import (
	"github.com/throttlekit/throttlekit-go/internal/engine"
	"github.com/throttlekit/throttlekit-go/internal/twotier"
	"github.com/throttlekit/throttlekit-go/policy"
)

// EngineOptions configure an EngineBackend: Namespace prefixes every key; MaxKeys caps the
// keys held at once (default DefaultEngineMaxKeys) and MaxBytes their estimated memory
// (default DefaultEngineMaxBytes; past either, the key closest to expiry, from a small
// sample, is evicted); SweepInterval is how often expired keys are reclaimed (default
// DefaultEngineSweepInterval); Clock is the engine's clock (default time.Now).
type EngineOptions = engine.Options

// EngineStats are an engine's counters: live keys and their estimated bytes, evictions,
// expired keys reclaimed.
type EngineStats = engine.Stats

// Defaults of EngineOptions.
const (
	DefaultEngineMaxKeys       = engine.DefaultMaxKeys
	DefaultEngineMaxBytes      = engine.DefaultMaxBytes
	DefaultEngineSweepInterval = engine.DefaultSweepInterval
)

// EngineBackend runs the decision scripts, the very files RedisBackend sends to Redis, in
// process with an embedded Lua interpreter and an in-memory keyspace that behaves as Redis
// for the commands the scripts use: the same decisions, the same stored state, no network.
// State lives in this process only, so it suits one process, not a fleet. It is safe for
// concurrent use.
type EngineBackend struct {
	backend
	engine *engine.Backend
	tiers  *twotier.Door
}

var _ Limiter = (*EngineBackend)(nil)

// OpenEngine parses policiesYAML and returns a backend on a fresh embedded engine.
func OpenEngine(policiesYAML []byte, opts EngineOptions) (*EngineBackend, error) {
	b, err := engine.Open(policiesYAML, opts)
	return wrapEngine(b, opts, err)
}

// NewEngineBackend serves policies from a fresh embedded engine.
func NewEngineBackend(policies *policy.Set, opts EngineOptions) (*EngineBackend, error) {
	b, err := engine.New(policies, opts)
	return wrapEngine(b, opts, err)
}

// wrapEngine puts two-tier L1 in front of the engine, on the engine's clock.
func wrapEngine(b *engine.Backend, opts EngineOptions, err error) (*EngineBackend, error) {
	if err != nil {
		return nil, err
	}
	tiers := twotier.OverEngine(b, opts)
	return &EngineBackend{backend: newBackend(tiers), engine: b, tiers: tiers}, nil
}

// SetPolicies swaps the policy set atomically; calls in flight finish with the old one.
func (b *EngineBackend) SetPolicies(set *policy.Set) error { return b.tiers.SetPolicies(set) }

// Stats returns the engine's counters.
func (b *EngineBackend) Stats() EngineStats { return b.engine.Stats() }
