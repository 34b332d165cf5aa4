package redisdoor

import (
	"context"
	"slices"

	"github.com/redis/go-redis/v9"
	"github.com/throttlekit/throttlekit-go/internal/coalesce"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/internal/rediserr"
)

// Auto-pipelining on the Redis door: a coalescer whose batches are Redis pipelines. Redis
// reads, runs and answers a whole pipeline per system call instead of one command per call,
// which is where a single Redis spends most of its time at high concurrency. Every command
// in a pipeline is the EVALSHA its caller would have sent alone, so a batch decides exactly
// what the same calls sent one by one in the same order would decide.
const (
	// pipelineSlots bounds the pipelines (and lone calls) in flight per backend: enough that
	// Redis always has the next batch arriving while it answers one, few enough that batches
	// stay large. Measured on 2 cores: see BENCHMARKS.md.
	pipelineSlots = 4
	// maxPipeline caps one pipeline so that a burst of callers cannot build a reply large
	// enough to delay the first of them noticeably.
	maxPipeline = 512
)

// scriptReq is one script call: EVALSHA sha 1 key argv..., with the script's source for EVAL
// after NOSCRIPT.
type scriptReq struct {
	source string
	args   []any
}

// newAutoPipeline sends script calls on rdb; off sends each on its own.
func newAutoPipeline(rdb redis.UniversalClient, off bool) *coalesce.Coalescer[scriptReq] {
	return &coalesce.Coalescer[scriptReq]{
		Off:      off,
		Panicked: front.Internal,
		Slots:    pipelineSlots,
		MaxBatch: maxPipeline,
		SendOne: func(ctx context.Context, r scriptReq) (any, error) {
			return runOne(ctx, rdb, r.source, r.args)
		},
		SendBatch: func(ctx context.Context, reqs []scriptReq) []coalesce.Outcome {
			args := make([][]any, len(reqs))
			for i, r := range reqs {
				args[i] = r.args
			}
			cmds := pipelineScripts(ctx, rdb, args, func(i int) string { return reqs[i].source })
			outs := make([]coalesce.Outcome, len(cmds))
			for i, c := range cmds {
				outs[i].Reply, outs[i].Err = c.Result()
			}
			return outs
		},
	}
}

// runOne sends one EVALSHA, and EVAL once if Redis lost the script (restart, failover, SCRIPT
// FLUSH); EVAL caches it again for the next EVALSHA.
func runOne(ctx context.Context, rdb redis.UniversalClient, source string, args []any) (any, error) {
	reply, err := rdb.Do(ctx, args...).Result()
	if rediserr.IsNoScript(err) {
		args[0], args[1] = "eval", source
		reply, err = rdb.Do(ctx, args...).Result()
	}
	return reply, err
}

// pipelineScripts sends EVALSHA commands (args) as one pipeline, then re-sends as EVAL, script
// text included, those that met an empty script cache: EVAL cannot miss, even if the cache is
// flushed again meanwhile. The commands that missed all come after every command that ran
// (the cache empties at one instant), so re-sending them in order keeps the order of effects.
func pipelineScripts(ctx context.Context, rdb redis.UniversalClient, args [][]any, source func(i int) string) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(args))
	pipe := rdb.Pipeline()
	for i, a := range args {
		cmds[i] = pipe.Do(ctx, a...)
	}
	_, err := pipe.Exec(ctx)
	execFailed(cmds, err)

	var retry redis.Pipeliner
	for i, c := range cmds {
		if !rediserr.IsNoScript(c.Err()) {
			continue
		}
		if retry == nil {
			retry = rdb.Pipeline()
		}
		a := slices.Clone(args[i])
		a[0], a[1] = "eval", source(i)
		cmds[i] = retry.Do(ctx, a...)
	}
	if retry != nil {
		_, err := retry.Exec(ctx)
		execFailed(cmds, err)
	}
	return cmds
}

// execFailed gives a pipeline's error to its commands that have neither a reply nor an error:
// go-redis leaves them so when the connection itself failed (refused credentials, for one).
func execFailed(cmds []*redis.Cmd, err error) {
	if err == nil {
		return
	}
	for _, c := range cmds {
		if c.Err() == nil && c.Val() == nil {
			c.SetErr(err)
		}
	}
}
