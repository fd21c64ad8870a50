package system_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo runs the whole system against a fresh embedded server until the test
// ends, placing load orders per second, and returns it with a test
// connection, a control client and the status feed. tune, if set, changes
// the configuration before anything starts.
func demo(t *testing.T, load float64, tune func(*system.Config)) *rig {
	t.Helper()
	srv := natstest.Server(t)
	url := srv.ClientURL()
	cfg := system.Config{
		Connect: func(ctx context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		},
		Workers:  8,
		Topology: topology.Options{Seed: contract.Seed{Accounts: 50, AccountBalance: 1_000_000_000, SKUs: 20, StockPerSKU: 1_000_000}},
		Load:     &loadgen.Config{Rate: load},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tune != nil {
		tune(&cfg)
	}
	// The test's connection and status feed start first, so they are
	// cleaned up last, after the system has stopped.
	nc := natstest.Connect(t, url)
	r := &rig{srv: srv, cfg: cfg, nc: nc, js: natstest.JetStream(t, nc), ctl: control.NewClient(nc), feed: followStatus(t, nc)}

	ctx, cancel := context.WithCancel(context.Background())
	if err := system.Prepare(ctx, cfg); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- system.RunInstances(ctx, system.Instances(cfg)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	svcs := cfg.Services
	if len(svcs) == 0 {
		svcs = contract.Services
	}
	r.waitRunning(t, 0, svcs...)
	return r
}

func TestSagasCompleteUnderLoad(t *testing.T) {
	r := demo(t, 100, nil)
	r.waitCompleted(t, 100, "100 sagas complete under load")
	all := r.settle(t)
	c := countByStatus(all)
	t.Logf("sagas: %v", c)
	if c[contract.SagaCancelled] != 0 || c[contract.SagaCompensationFailed] != 0 {
		t.Fatalf("without faults no saga should be cancelled: %v", c)
	}
	rep := r.mustCheck(t)
	if len(rep.Warnings) != 0 {
		t.Fatalf("without faults check should warn of nothing: %v", rep.Warnings)
	}
}
