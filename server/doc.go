// Package server is the throttlekit.v1 RateLimiter gRPC service (wire-contract.md) over any
// client.Limiter: the embedded engine or a RedisBackend. It computes nothing itself; it maps
// requests onto the backend, decisions onto messages and the client's typed errors onto gRPC
// status codes, so both doors give the same decisions by construction.
//
// MonitorService is the read-only Monitor service of the same contract: it reports what a
// Service decided, as recorded by a server/monitor.Monitor given as the Service's Recorder.
//
// The transport around them (listener, TLS, authentication, who may read the Monitor,
// health, metrics) belongs to the program that registers them, cmd/throttlekit-server.
package server
