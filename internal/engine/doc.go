// Package engine is the embedded engine: the decision scripts of luascripts/, run in process
// by pooled gopher-lua states (with the Lua 5.1 of package lua51) over an in-memory keyspace
// that behaves as Redis for the commands and TTLs the scripts use, bounded in keys and bytes.
// Its Backend is a front.Door for one process, not a fleet.
package engine
