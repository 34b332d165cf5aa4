package redisdoor

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// RunArgs executes a script with its KEYS and ARGV as given (see front.ScriptRunner), like
// Run: EVALSHA, EVAL once if Redis lost the script, auto-pipelined with other calls.
func (r *runner) RunArgs(ctx context.Context, s *luascripts.Script, keys []string, argv []any) (any, error) {
	args := make([]any, 0, 3+len(keys)+len(argv))
	args = append(args, "evalsha", s.SHA1, len(keys))
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, argv...)
	reply, err := r.pipe.Do(ctx, scriptReq{source: s.Source, args: args})
	return reply, r.failure(ctx, err)
}

var _ front.ScriptRunner = (*runner)(nil)
