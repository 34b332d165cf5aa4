// Package server is the throttlekit.v1 RateLimiter gRPC service (wire-contract.md) over any
// client.Limiter: the embedded engine or a RedisBackend. It computes nothing itself; it maps
// requests onto the backend, decisions onto messages and the client's typed errors onto gRPC
// status codes, so both doors give the same decisions by construction.
//
// The transport around it (listener, TLS, authentication, health, metrics) belongs to the
// program that registers it, cmd/throttlekit-server.
package server
