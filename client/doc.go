// Package client is the ThrottleKit Go client: the Decision and Forecast types, typed errors,
// and the backends that reach a limiter. RedisBackend runs the luascripts/ decision scripts
// in a Redis that a fleet shares, EngineBackend runs the same scripts in process, and
// ServiceBackend asks a throttlekit-server; nothing in this package computes a decision.
//
// Every backend is a Limiter (Check, CheckMany, Peek, Forecast, Debit) and an Admitter
// (Admit, Release, Heartbeat of concurrency policies: a slot held under a lease, exact for a
// whole fleet on RedisBackend).
//
// Every backend is safe for concurrent use. Calls are bounded by their context's deadline (and,
// for a context without one, by the backend's configured timeout).
package client
