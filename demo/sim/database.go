package sim

import (
	"context"
	"fmt"
	"github.com/sagascope/sagascope/demo/wait"
	"sync/atomic"
	"time"
)

// Defaults used for the zero values of DatabaseConfig.
const (
	DefaultConns        = 8
	DefaultQueryLatency = time.Millisecond
)

// DatabaseConfig configures a Database. The zero value of every field means
// its default.
type DatabaseConfig struct {
	// Name names the database in errors. Default "database".
	Name string
	// Conns is the size of the connection pool. Default 8.
	Conns int
	// QueryLatency is how long each query holds its connection, before any
	// latency fault. Default 1ms.
	QueryLatency time.Duration
	// RejectReason is the reason of the rejections the reject fault
	// injects, e.g. ReasonOutOfStock. Empty: the reject fault is ignored,
	// left to the caller's own checks.
	RejectReason string
	// Faults are the faults injected into the service using this database.
	// Nil: none.
	Faults Faults
	// Rand returns a number in [0, 1) for jitter and fault probabilities.
	// It must be safe for concurrent use. Nil: math/rand/v2's Float64.
	Rand func() float64
}

// Database is a simulated database with a fixed pool of connections. Each
// query holds a connection for its whole latency, so throughput is bounded
// by Conns / latency: with a 200ms latency fault, 8 connections serve at
// most 40 queries a second, and callers queue behind the pool. It is safe
// for concurrent use.
type Database struct {
	name         string
	latency      time.Duration
	rejectReason string
	faults       injector
	// conns holds one token per connection in use; its capacity is the
	// pool size.
	conns   chan struct{}
	waiting atomic.Int64
}

// NewDatabase builds a Database from cfg.
func NewDatabase(cfg DatabaseConfig) *Database {
	if cfg.Name == "" {
		cfg.Name = "database"
	}
	if cfg.Conns <= 0 {
		cfg.Conns = DefaultConns
	}
	if cfg.QueryLatency <= 0 {
		cfg.QueryLatency = DefaultQueryLatency
	}
	return &Database{
		name:         cfg.Name,
		latency:      cfg.QueryLatency,
		rejectReason: cfg.RejectReason,
		faults:       newInjector(cfg.Faults, cfg.Rand),
		conns:        make(chan struct{}, cfg.Conns),
	}
}

// Query waits for a free connection, holds it for the query latency plus
// any latency fault, then runs fn with it held and releases it. The faults
// fail the query after its latency, so a failing database still saturates
// its pool: with an error wrapping ErrUnavailable if the dependency_down
// fault is in force or the error fault fires, or with a *RejectedError if
// RejectReason is set and the reject fault fires; fn is not run then. If
// ctx ends while waiting or querying, Query returns an error wrapping
// ctx.Err(). Otherwise it returns fn's error unchanged.
func (db *Database) Query(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("query %s: %w", db.name, err)
	}
	db.waiting.Add(1)
	select {
	case db.conns <- struct{}{}:
		db.waiting.Add(-1)
	case <-ctx.Done():
		db.waiting.Add(-1)
		return fmt.Errorf("query %s: wait for a connection: %w", db.name, ctx.Err())
	}
	defer func() { <-db.conns }()

	if err := wait.For(ctx, db.latency+db.faults.latency()); err != nil {
		return fmt.Errorf("query %s: %w", db.name, err)
	}
	if err := db.faults.outcome(db.rejectReason); err != nil {
		return fmt.Errorf("query %s: %w", db.name, err)
	}
	return fn(ctx)
}

// Stats reports the pool: connections in use, pool size, and queries
// waiting for a connection. The numbers are read one after another.
func (db *Database) Stats() (inUse, conns, waiting int) {
	return len(db.conns), cap(db.conns), int(db.waiting.Load())
}
