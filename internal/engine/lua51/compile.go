package lua51

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Names of the hidden locals through which a compiled script reaches the engine's Lua 5.1
// operators. They contain characters no Lua identifier can, so no script can clash with them.
const (
	hiddenMod    = "(lua51 %)"
	hiddenConcat = "(lua51 ..)"
)

// CompileScript compiles a script once, for every Lua state of the engine to share.
//
// The source is compiled unchanged except for three points where gopher-lua departs from
// Lua 5.1: the % and .. operators become calls to Mod and Concat (Lua 5.1's
// a - floor(a/b)*b, and "%.14g" for a number operand), and numeric literals are read with
// Lua 5.1's rules (gopher-lua reads "010" as octal). The result is a factory: called once
// per state with (Mod, Concat), it returns the script's function, a closure holding
// both as upvalues, so a call costs no global lookup. Like Redis, which wraps a script
// body in a function of no parameters, the script sees no varargs.
func CompileScript(name, source string) (*lua.FunctionProto, error) {
	return CompileChunk(name, source, false)
}

// CompileChunk compiles source as CompileScript does; varargs gives the chunk a "...",
// as loadstring's chunks have.
func CompileChunk(name, source string, varargs bool) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(source), name)
	if err != nil {
		return nil, err
	}
	rewriteStmts(chunk)
	body := &ast.FunctionExpr{ParList: &ast.ParList{HasVargs: varargs, Names: []string{}}, Stmts: chunk}
	factory := []ast.Stmt{
		&ast.LocalAssignStmt{Names: []string{hiddenMod, hiddenConcat}, Exprs: []ast.Expr{&ast.Comma3Expr{}}},
		&ast.ReturnStmt{Exprs: []ast.Expr{body}},
	}
	return lua.Compile(factory, name)
}

func rewriteStmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		rewriteStmt(s)
	}
}

func rewriteExprs(exprs []ast.Expr) {
	for i, e := range exprs {
		exprs[i] = rewriteExpr(e)
	}
}

func rewriteStmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		rewriteExprs(s.Lhs)
		rewriteExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		rewriteExprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = rewriteExpr(s.Expr)
	case *ast.DoBlockStmt:
		rewriteStmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = rewriteExpr(s.Condition)
		rewriteStmts(s.Then)
		rewriteStmts(s.Else)
	case *ast.NumberForStmt:
		s.Init = rewriteExpr(s.Init)
		s.Limit = rewriteExpr(s.Limit)
		if s.Step != nil {
			s.Step = rewriteExpr(s.Step)
		}
		rewriteStmts(s.Stmts)
	case *ast.GenericForStmt:
		rewriteExprs(s.Exprs)
		rewriteStmts(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			if s.Name.Func != nil {
				s.Name.Func = rewriteExpr(s.Name.Func)
			}
			if s.Name.Receiver != nil {
				s.Name.Receiver = rewriteExpr(s.Name.Receiver)
			}
		}
		rewriteStmts(s.Func.Stmts)
	case *ast.ReturnStmt:
		rewriteExprs(s.Exprs)
	}
}

func rewriteExpr(e ast.Expr) ast.Expr {
	switch e := e.(type) {
	case *ast.NumberExpr:
		if v, ok := luaStr2d(e.Value); ok {
			e.Value = strconv.FormatFloat(v, 'g', -1, 64)
		}
	case *ast.AttrGetExpr:
		e.Object = rewriteExpr(e.Object)
		e.Key = rewriteExpr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			if f.Key != nil {
				f.Key = rewriteExpr(f.Key)
			}
			f.Value = rewriteExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		if e.Func != nil {
			e.Func = rewriteExpr(e.Func)
		}
		if e.Receiver != nil {
			e.Receiver = rewriteExpr(e.Receiver)
		}
		rewriteExprs(e.Args)
	case *ast.LogicalOpExpr:
		e.Lhs, e.Rhs = rewriteExpr(e.Lhs), rewriteExpr(e.Rhs)
	case *ast.RelationalOpExpr:
		e.Lhs, e.Rhs = rewriteExpr(e.Lhs), rewriteExpr(e.Rhs)
	case *ast.StringConcatOpExpr:
		return hiddenCall(e, hiddenConcat, rewriteExpr(e.Lhs), rewriteExpr(e.Rhs))
	case *ast.ArithmeticOpExpr:
		e.Lhs, e.Rhs = rewriteExpr(e.Lhs), rewriteExpr(e.Rhs)
		if e.Operator == "%" {
			return hiddenCall(e, hiddenMod, e.Lhs, e.Rhs)
		}
	case *ast.UnaryMinusOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.UnaryNotOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.UnaryLenOpExpr:
		e.Expr = rewriteExpr(e.Expr)
	case *ast.FunctionExpr:
		rewriteStmts(e.Stmts)
	}
	return e
}

// hiddenCall is fn(lhs, rhs), truncated to one value, on the lines of the operator it replaces.
func hiddenCall(at ast.Expr, fn string, lhs, rhs ast.Expr) ast.Expr {
	ident := &ast.IdentExpr{Value: fn}
	ident.SetLine(at.Line())
	ident.SetLastLine(at.LastLine())
	call := &ast.FuncCallExpr{Func: ident, Args: []ast.Expr{lhs, rhs}, AdjustRet: true}
	call.SetLine(at.Line())
	call.SetLastLine(at.LastLine())
	return call
}
