package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/throttlekit/throttlekit-go/internal/engine/lua51"
	"github.com/throttlekit/throttlekit-go/internal/front"
	"github.com/throttlekit/throttlekit-go/luascripts"
)

// The Lua side of the embedded engine: interpreters prepared once and pooled, each holding
// every decision script as a ready function, with the environment Redis gives a script
// (the base library with coroutine, as Lua 5.1 opens it, and the table, string and math
// libraries; a redis table, KEYS and ARGV; protected globals) and nothing else: no io,
// os, package or debug.

// compiledScripts are the decision scripts compiled once per process, shared read-only by
// every interpreter of every engine.
type compiledScripts struct {
	index  map[*luascripts.Script]int
	protos []*lua.FunctionProto
}

var loadScripts = sync.OnceValues(func() (*compiledScripts, error) {
	cs := &compiledScripts{index: map[*luascripts.Script]int{}}
	for i, s := range luascripts.All() {
		p, err := lua51.CompileScript(s.Name, s.Source)
		if err != nil {
			return nil, err
		}
		cs.index[s] = i
		cs.protos = append(cs.protos, p)
	}
	return cs, nil
})

// luaState is one interpreter. It serves one script run at a time.
type luaState struct {
	L     *lua.LState
	fns   []*lua.LFunction // the decision scripts, by compiledScripts index
	mod   *lua.LFunction
	cat   *lua.LFunction
	keys  *lua.LTable
	argv  *lua.LTable
	nkeys int
	nargv int
	exec  scriptExec
	args  []string // redis.call arguments, reused

	oneKey   [1]string // the KEYS of a one-key run (see keyList)
	shardIdx []int     // lockShards' buffers
	locked   []*shard

	// argvCache holds the ARGV values of the script calls this state has served: the static
	// parameters as Lua strings, built once instead of on every call. A policy reload makes
	// new calls; the cache is simply cleared when it grows past argvCacheMax.
	argvCache map[*front.ScriptCall][]lua.LValue

	okTable *lua.LTable // {ok="OK"}, see statusTable
	okUsed  bool        // okTable was handed out in the current run

	interruptible bool        // the run's context can stop it (until its first write)
	raised        *lua.LTable // the error redis.call last raised, and where
	raisedAt      string
}

const argvCacheMax = 256

// The states' call stack and value stack: Lua 5.1 and Redis allow unpack of up to 8,000
// values; the value stack starts small and grows on demand up to a bound well past that.
const (
	luaCallStack    = 200
	luaRegistry     = 1024
	luaRegistryMax  = 64 * 1024
	luaRegistryStep = 256
)

func newLuaState(cs *compiledScripts) (*luaState, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs: true, CallStackSize: luaCallStack,
		RegistrySize: luaRegistry, RegistryMaxSize: luaRegistryMax, RegistryGrowStep: luaRegistryStep,
	})
	st := &luaState{L: L, argvCache: map[*front.ScriptCall][]lua.LValue{}}
	if err := st.openLibs(); err != nil {
		L.Close()
		return nil, err
	}
	st.fns = make([]*lua.LFunction, len(cs.protos))
	for i, p := range cs.protos {
		fn, err := st.instantiate(p)
		if err != nil {
			L.Close()
			return nil, err
		}
		st.fns[i] = fn
	}
	return st, nil
}

func (st *luaState) openLibs() error {
	L := st.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}, {lua.CoroutineLibName, lua.OpenCoroutine}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		if err := L.PCall(1, 0, nil); err != nil {
			return err
		}
	}
	g := L.G.Global
	// The globals Redis 7.0 leaves out (file loading, the package functions, print,
	// environments), plus gopher-lua's own extras.
	for _, name := range []string{"dofile", "loadfile", "module", "require", "print", "getfenv", "setfenv",
		"newproxy", "_printregs", "_GOPHER_LUA_VERSION"} {
		g.RawSetString(name, lua.LNil)
	}
	// collectgarbage would run Go's collector for the whole process.
	g.RawSetString("collectgarbage", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(0)); return 1 }))
	lua51.Install(L)
	// Code compiled at run time gets the same Lua 5.1 operators as the scripts.
	g.RawSetString("loadstring", L.NewFunction(st.loadString))
	g.RawSetString("load", L.NewFunction(st.load))
	st.mod = L.NewFunction(lua51.Mod)
	st.cat = L.NewFunction(lua51.Concat)

	redis := L.NewTable()
	redis.RawSetString("call", L.NewFunction(func(L *lua.LState) int { return st.redisCall(L, true) }))
	redis.RawSetString("pcall", L.NewFunction(func(L *lua.LState) int { return st.redisCall(L, false) }))
	redis.RawSetString("error_reply", L.NewFunction(luaErrorReply))
	redis.RawSetString("status_reply", L.NewFunction(luaStatusReply))
	g.RawSetString("redis", redis)
	st.keys, st.argv = L.NewTable(), L.NewTable()
	g.RawSetString("KEYS", st.keys)
	g.RawSetString("ARGV", st.argv)

	// Redis's global protection, which also keeps one run from leaking a global into the
	// next run on this pooled state.
	mt := L.NewTable()
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.Get(2).String())
		return 0
	}))
	L.SetMetatable(g, mt)
	return nil
}

// instantiate turns a compiled script into this state's function (see CompileScript).
func (st *luaState) instantiate(p *lua.FunctionProto) (*lua.LFunction, error) {
	L := st.L
	L.Push(L.NewFunctionFromProto(p))
	L.Push(st.mod)
	L.Push(st.cat)
	if err := L.PCall(2, 1, nil); err != nil {
		return nil, err
	}
	fn, _ := L.Get(-1).(*lua.LFunction)
	L.Pop(1)
	return fn, nil
}

// loadString is loadstring(s [, chunkname]): the chunk compiled as the scripts are, or
// nil and the message.
func (st *luaState) loadString(L *lua.LState) int {
	src := lua51.CheckString(L, 1, "loadstring")
	return st.pushChunk(L, src, L.OptString(2, src))
}

// load is load(func [, chunkname]): the chunk is the concatenation of func's results up
// to the first nil or empty string.
func (st *luaState) load(L *lua.LState) int {
	fn := L.CheckFunction(1)
	var sb strings.Builder
	for {
		L.Push(fn)
		L.Call(0, 1)
		piece := L.Get(-1)
		L.Pop(1)
		s, ok := piece.(lua.LString)
		if piece == lua.LNil || (ok && s == "") {
			break
		}
		if !ok {
			L.Push(lua.LNil)
			L.Push(lua.LString("reader function must return a string"))
			return 2
		}
		sb.WriteString(string(s))
	}
	return st.pushChunk(L, sb.String(), L.OptString(2, "=(load)"))
}

func (st *luaState) pushChunk(L *lua.LState, src, name string) int {
	p, err := lua51.CompileChunk(name, src, true)
	var fn *lua.LFunction
	if err == nil {
		fn, err = st.instantiate(p)
	}
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(fn)
	return 1
}

// smallInts are the ARGV texts of small amounts, so that the common cost of 1 costs no
// allocation.
var smallInts = func() [1024]lua.LValue {
	var a [1024]lua.LValue
	for i := range a {
		a[i] = lua.LString(strconv.Itoa(i))
	}
	return a
}()

func intArg(n int64) lua.LValue {
	if n >= 0 && n < int64(len(smallInts)) {
		return smallInts[n]
	}
	return lua.LString(strconv.FormatInt(n, 10))
}

// setCall fills KEYS and ARGV for one script call, reusing both tables.
func (st *luaState) setCall(call *front.ScriptCall, key string, nowMs, amount int64) {
	vals := st.argvCache[call]
	if vals == nil {
		if len(st.argvCache) >= argvCacheMax {
			clear(st.argvCache)
		}
		vals = make([]lua.LValue, len(call.Argv))
		for i, a := range call.Argv {
			s, _ := a.(string)
			vals[i] = lua.LString(s)
		}
		st.argvCache[call] = vals
	}
	st.setKeys(key)
	for i, v := range vals {
		st.argv.RawSetInt(i+1, v)
	}
	st.argv.RawSetInt(1, intArg(nowMs))
	if call.AmountAt >= 0 {
		st.argv.RawSetInt(call.AmountAt+1, intArg(amount))
	}
	st.truncate(st.argv, len(vals), &st.nargv)
}

// keyList is the list of one key, without an allocation.
func (st *luaState) keyList(key string) []string {
	st.oneKey[0] = key
	return st.oneKey[:]
}

// setBatch fills KEYS and ARGV for a run of the batch script (see front.BatchArgs).
func (st *luaState) setBatch(keys []string, argv []any) {
	st.setKeys(keys...)
	for i, a := range argv {
		var v lua.LValue
		switch a := a.(type) {
		case string:
			v = lua.LString(a)
		case int:
			v = intArg(int64(a))
		case int64:
			v = intArg(a)
		default:
			v = lua.LString(fmt.Sprint(a))
		}
		st.argv.RawSetInt(i+1, v)
	}
	st.truncate(st.argv, len(argv), &st.nargv)
}

// setKeys makes KEYS a list of exactly the given keys.
func (st *luaState) setKeys(keys ...string) {
	for i, k := range keys {
		st.keys.RawSetInt(i+1, lua.LString(k))
	}
	st.truncate(st.keys, len(keys), &st.nkeys)
}

// setArgv makes ARGV a list of exactly the given strings.
func (st *luaState) setArgv(argv []string) {
	for i, a := range argv {
		st.argv.RawSetInt(i+1, lua.LString(a))
	}
	st.truncate(st.argv, len(argv), &st.nargv)
}

// truncate ends t after n entries, clearing what the previous call (or a script that
// appended to its ARGV) left beyond.
func (st *luaState) truncate(t *lua.LTable, n int, prev *int) {
	for i := n + 1; i <= max(*prev, t.Len()); i++ {
		t.RawSetInt(i, lua.LNil)
	}
	*prev = n
}

// invoke runs fn with the run's scriptExec already begun. A context with a deadline or a
// cancel can stop the script only until its first write: Redis likewise refuses to kill a
// script that has written, because a half-applied script would break atomicity.
func (st *luaState) invoke(ctx context.Context, fn *lua.LFunction) (lua.LValue, error) {
	L := st.L
	st.raised, st.raisedAt = nil, ""
	st.okUsed = false
	st.interruptible = ctx.Done() != nil
	if st.interruptible {
		L.SetContext(ctx)
		defer L.RemoveContext()
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	return ret, nil
}
