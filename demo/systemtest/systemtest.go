// Package systemtest runs the whole sagascope demo system on a real
// embedded NATS server for other packages' tests: the services, the load
// generator and, when asked, telemetry. Import it only from _test.go files.
package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
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
	"github.com/sagascope/sagascope/telemetry"
)

// Deadlines for polling. Generous because other test binaries share the
// machine; a condition that holds returns at once.
const (
	Quickly    = 30 * time.Second
	Eventually = 60 * time.Second
)

// Seed is small, so the system starts fast, and rich, so no saga runs out
// of money or stock.
var Seed = contract.Seed{Accounts: 50, AccountBalance: 1_000_000_000, SKUs: 20, StockPerSKU: 1_000_000}

// System is a running demo, which is also the scenario target of a demo
// this process runs, and a test connection to its server.
type System struct {
	*system.System
	Server *embedded.Server
	// NC is the test's connection, started before the services and so
	// closed after them.
	NC  *nats.Conn
	Ctl *control.Client
}

// Config is the test configuration of the system on the server at url:
// 8 workers a consumer, Seed, a load generator placing load orders a
// second (0: none placed until asked), logs discarded.
func Config(url string, load float64) system.Config {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	return system.Config{
		Connect: func(ctx context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		},
		Workers:  8,
		Topology: topology.Options{Seed: Seed},
		Load:     &loadgen.Config{Rate: load, Log: discard},
		Log:      discard,
	}
}

// Start runs the system on a fresh server, placing load orders a second,
// until the test ends, and waits until each of its services answers the
// control API. tune, if given, changes the configuration first.
func Start(t *testing.T, load float64, tune ...func(*system.Config)) *System {
	t.Helper()
	srv := natstest.Server(t)
	cfg := Config(srv.ClientURL(), load)
	for _, f := range tune {
		f(&cfg)
	}
	nc := natstest.Connect(t, srv.ClientURL())
	s := &System{Server: srv, NC: nc, Ctl: control.NewClient(nc)}
	s.System = start(t, context.Background(), system.Options{Services: cfg, Server: srv})
	svcs := cfg.Services
	if len(svcs) == 0 {
		svcs = contract.Services
	}
	WaitFor(t, Quickly, "every service answers the control API", func() error {
		for _, svc := range svcs {
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

// Run creates cfg's streams and buckets and runs its services until ctx
// or the test ends; the test's cleanup waits until they have stopped
// gracefully and fails the test if one ended with an error.
func Run(t testing.TB, ctx context.Context, cfg system.Config) *system.System {
	t.Helper()
	return start(t, ctx, system.Options{Services: cfg})
}

// start starts the system as o says until ctx or the test ends.
func start(t testing.TB, ctx context.Context, o system.Options) *system.System {
	t.Helper()
	sys, err := system.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("system: %v", err)
		}
	})
	return sys
}

// Telemetry starts telemetry as cfg says, tracing every saga and
// exporting spans every 50 ms unless cfg says otherwise, with no OTEL_*
// environment. Its probes drain when ctx ends; it shuts down when the test
// ends, after the services when it is started before them.
func Telemetry(t testing.TB, ctx context.Context, cfg telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	if cfg.TraceRatio == 0 {
		cfg.TraceRatio = 1
	}
	if cfg.SpanBatchTimeout == 0 {
		cfg.SpanBatchTimeout = 50 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	tel, shutdown, err := telemetry.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("telemetry shutdown: %v", err)
		}
	})
	return tel
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

// LogBuffer collects what a logger writes, for a test to read while the
// system still writes to it. It is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
