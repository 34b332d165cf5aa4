package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/policy"
)

// store is the backend the service answers from, and what closing it takes.
type store struct {
	backend client.Limiter
	rdb     redis.UniversalClient // nil for the embedded engine
}

// openStore opens the store the flags chose, serving set. Nothing is dialled: a Redis that
// is down yet does not stop the server from starting (calls fail until it answers).
func openStore(cfg *config, set *policy.Set) (*store, error) {
	if cfg.store == storeMemory {
		b, err := client.NewEngineBackend(set, client.EngineOptions{Namespace: cfg.redisPrefix, MaxBytes: cfg.memoryBytes,
			LocalMaxKeys: cfg.localKeys})
		if err != nil {
			return nil, err
		}
		return &store{backend: b}, nil
	}
	rdb, err := client.NewRedisClient(cfg.redisURL, client.ConnectOptions{Timeout: cfg.timeout,
		TLSCAFile: cfg.redisTLS.ca, TLSCertFile: cfg.redisTLS.cert, TLSKeyFile: cfg.redisTLS.key})
	if err != nil {
		return nil, err // the client's message shows the URL redacted
	}
	b, err := client.NewRedisBackend(rdb, set, client.RedisOptions{Namespace: cfg.redisPrefix, Timeout: cfg.timeout,
		LocalMaxKeys: cfg.localKeys})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &store{backend: b, rdb: rdb}, nil
}

// ping tells whether the store answers, within the call timeout; the embedded engine always
// does. It is what a reachability-driven health status (and a startup warning) rests on.
func (s *store) ping(ctx context.Context, timeout time.Duration) error {
	if s.rdb == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}

func (s *store) close() error {
	err := s.backend.Close()
	if s.rdb != nil {
		// NewRedisBackend leaves the client to its creator.
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// logAttrs describe the store for the startup line, without the Redis password.
func (s *store) logAttrs(cfg *config) []any {
	attrs := []any{slog.String("store", cfg.store)}
	if cfg.store == storeRedis {
		attrs = append(attrs, slog.String("redis", client.RedactURL(cfg.redisURL)))
	}
	if cfg.redisPrefix != "" {
		attrs = append(attrs, slog.String("namespace", cfg.redisPrefix))
	}
	return attrs
}
