package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/topology"
)

// Temporary: compares the closed-loop feeder with the load generator above capacity.
func TestZZOpenLoop(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	ctx := t.Context()
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	b := &bench{o: Options{}.withDefaults(), srv: srv.NATS(), url: srv.ClientURL(), topo: topology.Options{Seed: topology.DefaultSeed}}
	b.nc, _ = b.connect("zz")
	defer b.nc.Close()
	b.js, _ = jetstream.New(b.nc)
	d, err := b.startDemo(ctx, noSimulatedLatency(32))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	for round := range 2 {
		s, err := b.saturation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("closed loop: %.0f sagas/s, %s/saga, %.2f CPUs others %.2f, queued %d\n", s.PerSec(), s.CPUPerDone(), s.CPUs(), s.OtherCPUs(), s.Queued)
		rate := 1.5 * s.PerSec()
		if round == 1 {
			rate = 3 * s.PerSec()
		}
		ctl := control.NewClient(b.nc)
		if _, err := ctl.SetLoad(ctx, contract.LoadRequest{V: 1, Rate: &rate}); err != nil {
			t.Fatal(err)
		}
		m0, m1, err := b.window(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		zero := 0.0
		ctl.SetLoad(ctx, contract.LoadRequest{V: 1, Rate: &zero})
		tp := m1.throughputSince(m0)
		tp.Done = m1.completed - m0.completed
		placed := m1.seqs["SAGA_ORDERS"] - m0.seqs["SAGA_ORDERS"] - tp.Done
		q, _, _ := b.sagaQueue()
		fmt.Printf("open loop at %.0f/s: %.0f sagas/s placed %.0f/s, %s/saga, %.2f CPUs others %.2f, queued %d\n", rate, tp.PerSec(), float64(placed)/tp.Elapsed.Seconds(), tp.CPUPerDone(), tp.CPUs(), tp.OtherCPUs(), q)
		if err := b.waitIdle(ctx, 120*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}
