package client

import (
	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/redisdoor"
	"github.com/throttlekit/throttlekit-go/internal/twotier"
	"github.com/throttlekit/throttlekit-go/policy"
)

// RedisOptions configure a RedisBackend: Namespace prefixes every key ("ns" makes
// "ns:api:K"); Timeout bounds a call whose context carries no deadline;
// DisableAutoPipeline sends every call on its own round trip instead of coalescing concurrent
// calls into pipelines (same commands, same decisions; a lone caller is never delayed).
type RedisOptions = redisdoor.Options

// ConnectOptions shape the Redis client NewRedisClient builds: the timeout of dials, reads,
// writes and pool waits (0: DefaultTimeout), TLS files for rediss://, the pool size, and an
// optional replacement TCP dialer.
type ConnectOptions = redisdoor.ConnectOptions

// RedisBackend runs the decision scripts in a Redis shared by a fleet: one round trip per
// check (EVALSHA, with a transparent EVAL when the script cache was flushed), concurrent
// calls pipelined. It is safe for concurrent use.
type RedisBackend struct {
	backend
	redis *redisdoor.Backend
	tiers *twotier.Door
}

var _ Limiter = (*RedisBackend)(nil)

// OpenRedis parses url (see NewRedisClient) and policiesYAML and returns a backend that owns
// its connection. Nothing is dialled yet: reachability shows per call.
func OpenRedis(url string, policiesYAML []byte, opts RedisOptions, conn ConnectOptions) (*RedisBackend, error) {
	b, err := redisdoor.Open(url, policiesYAML, opts, conn)
	return wrapRedis(b, opts, err)
}

// NewRedisBackend serves policies from rdb. The caller keeps ownership of rdb (Close does not
// close it). For calls to be bounded by their context, rdb needs ContextTimeoutEnabled and
// dial/read/retry settings that fit inside the deadline: NewRedisClient sets them.
func NewRedisBackend(rdb redis.UniversalClient, policies *policy.Set, opts RedisOptions) (*RedisBackend, error) {
	b, err := redisdoor.New(rdb, policies, opts)
	return wrapRedis(b, opts, err)
}

// wrapRedis puts two-tier L1 in front of the Redis door.
func wrapRedis(b *redisdoor.Backend, opts RedisOptions, err error) (*RedisBackend, error) {
	if err != nil {
		return nil, err
	}
	tiers := twotier.OverRedis(b, opts)
	return &RedisBackend{backend: newBackend(tiers), redis: b, tiers: tiers}, nil
}

// SetPolicies swaps the policy set atomically; calls in flight finish with the old one.
func (b *RedisBackend) SetPolicies(set *policy.Set) error { return b.tiers.SetPolicies(set) }

// NewRedisClient builds a go-redis client for a Redis URL, configured so that a call never
// outlives its deadline. URLs: redis://[user:password@]host:port[/db], rediss:// for TLS,
// redis+cluster://h1:p1,h2:p2 (or ?addr=), redis+sentinel://h1:p1,h2:p2/master-name. Nothing
// is dialled until the first call.
func NewRedisClient(rawURL string, o ConnectOptions) (redis.UniversalClient, error) {
	return redisdoor.NewClient(rawURL, o)
}

// RedactURL returns a Redis URL with its password replaced, for logs.
func RedactURL(raw string) string { return redisdoor.RedactURL(raw) }
