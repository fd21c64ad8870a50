package system_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fault"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/demo/topology"
)

// The orders instance publishes the generator's Status from its status
// goroutine while the generator's Run starts on another, each on its own
// connection's goroutines. Status must be safe to call then: its doc says
// so, and the status feed calls it twice a second. Run under -race.
//
// The generator runs on a connection of its own and the test polls on
// another, as in the system, so no lock shared through one connection
// orders the two goroutines and hides a race.
func TestLoadGeneratorStatusIsSafeToReadWhileItStarts(t *testing.T) {
	srv := natstest.Server(t)
	setup := natstest.JetStream(t, natstest.Connect(t, srv.ClientURL()))
	tiny := contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}
	if err := topology.Ensure(requestCtx(t), setup, topology.Options{Seed: tiny}); err != nil {
		t.Fatalf("create the demo's resources: %v", err)
	}
	control, err := setup.KeyValue(requestCtx(t), contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}

	g := loadgen.New(loadgen.Config{Rate: 0, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	run := natstest.JetStream(t, natstest.Connect(t, srv.ClientURL()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, run, fault.NewTable(contract.Orders, nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("load generator: %v", err)
		}
	})

	// The generator writes the load setting once it has started; a status
	// read after that reads whatever Run set up.
	systemtest.WaitFor(t, quickly, "the generator writes its initial load setting", func() error {
		_ = g.Status()
		_, err := control.Get(requestCtx(t), contract.LoadKey)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		return nil
	})
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if st := g.Status(); st.Rate != 0 || st.Effective != 0 {
			t.Fatalf("Status() = %+v, want rate 0", *st)
		}
	}
}
