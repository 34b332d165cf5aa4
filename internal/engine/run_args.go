package engine

import (
	"context"

	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// RunArgs runs a script with its KEYS and ARGV as given (see front.ScriptRunner), under
// the locks of its keys' shards like every run.
func (e *engine) RunArgs(ctx context.Context, s *luascripts.Script, keys []string, argv []any) (any, error) {
	idx, ok := e.scripts.index[s]
	if !ok {
		return nil, front.NewError(front.ErrInternal, "embedded engine: script %s is not one of the compiled decision scripts", s.Name)
	}
	st, err := e.state()
	if err != nil {
		return nil, err
	}
	st.setBatch(keys, argv)
	return e.exec(ctx, st, st.fns[idx], s.Name, keys)
}

var _ front.ScriptRunner = (*engine)(nil)
