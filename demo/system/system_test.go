package system_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo runs the whole system against a fresh embedded server until the test
// ends, and returns a JetStream context on it.
func demo(t *testing.T, load float64, tune func(*system.Config)) (jetstream.JetStream, *nats.Conn) {
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
	ctx, cancel := context.WithCancel(context.Background())
	if err := system.Prepare(ctx, cfg); err != nil {
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
	nc := natstest.Connect(t, url)
	return natstest.JetStream(t, nc), nc
}

// sagaCounts reads every saga and counts them by status.
func sagaCounts(t *testing.T, js jetstream.JetStream) map[contract.SagaStatus]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	counts := map[contract.SagaStatus]int{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var s contract.Saga
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			t.Fatal(err)
		}
		counts[s.Status]++
	}
	return counts
}

func TestSagasCompleteUnderLoad(t *testing.T) {
	js, _ := demo(t, 100, nil)
	time.Sleep(2 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := sagaCounts(t, js)
		inFlight := 0
		for st, n := range c {
			if !st.Final() {
				inFlight += n
			}
		}
		if c[contract.SagaCompleted] >= 100 {
			t.Logf("sagas: %v", c)
			if c[contract.SagaCancelled] != 0 || c[contract.SagaCompensationFailed] != 0 {
				t.Fatalf("without faults no saga should be cancelled: %v", c)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sagas did not complete: %v", c)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
