// Package rig runs the whole sagascope demo system against a fresh embedded
// NATS server for the dashboard's tests. Import it only from _test.go files.
package rig

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
)

// Deadlines for polling. Generous because other test binaries share the
// machine; a condition that holds returns at once.
const (
	Quickly    = 30 * time.Second
	Eventually = 60 * time.Second
)

// System is a running demo and a test connection to its server.
type System struct {
	Server *embedded.Server
	// NC is the test's connection, for the feed or the dashboard.
	NC  *nats.Conn
	Ctl *control.Client
	// Services runs the services, so a test can stop and start one.
	Services *system.Supervisor
	// Connect opens a connection as the services' own.
	Connect func(ctx context.Context, name string) (*nats.Conn, error)
}

// Start runs every service and a load generator placing load orders per
// second until the test ends, and waits until every service reports.
func Start(t *testing.T, load float64) *System {
	t.Helper()
	srv := natstest.Server(t)
	url := srv.ClientURL()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := system.Config{
		Connect: func(ctx context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		},
		Workers:  8,
		Topology: topology.Options{Seed: contract.Seed{Accounts: 50, AccountBalance: 1_000_000_000, SKUs: 20, StockPerSKU: 1_000_000}},
		Load:     &loadgen.Config{Rate: load, Log: discard},
		Log:      discard,
	}
	// The test connection starts first, so it is cleaned up last.
	nc := natstest.Connect(t, url)
	s := &System{Server: srv, NC: nc, Ctl: control.NewClient(nc), Services: system.NewSupervisor(cfg), Connect: cfg.Connect}
	ctx, cancel := context.WithCancel(context.Background())
	if err := system.Prepare(ctx, cfg); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Services.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	WaitFor(t, Quickly, "every service answers the control API", func() error {
		for _, svc := range contract.Services {
			c, cancel := context.WithTimeout(t.Context(), time.Second)
			_, err := s.Ctl.Status(c, svc)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", svc, err)
			}
		}
		return nil
	})
	return s
}

// WaitFor polls cond until it returns nil or timeout passes, then fails
// the test with what cond last said.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended while waiting: %v", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
