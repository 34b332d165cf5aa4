package federation

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/internal/rediserr"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// RedisRunner runs scripts on rdb one call at a time: EVALSHA, then EVAL once when Redis
// answers NOSCRIPT (restart, failover, SCRIPT FLUSH). A Cluster client routes each call by
// its one key. Errors are classified as every door's are.
func RedisRunner(rdb redis.UniversalClient) Runner { return redisRunner{rdb} }

type redisRunner struct{ rdb redis.UniversalClient }

func (r redisRunner) RunArgs(ctx context.Context, s *luascripts.Script, keys []string, argv []any) (any, error) {
	reply, err := r.rdb.EvalSha(ctx, s.SHA1, keys, argv...).Result()
	if rediserr.IsNoScript(err) {
		reply, err = r.rdb.Eval(ctx, s.Source, keys, argv...).Result()
	}
	if err != nil {
		return nil, rediserr.Classify(ctx, err)
	}
	return reply, nil
}
