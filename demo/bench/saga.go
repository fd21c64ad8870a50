package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/system"
)

// noSimulatedQuery is the inventory database's query latency when the
// simulated latencies are off: sim.DatabaseConfig reads 0 as its 1 ms
// default, so the shortest latency it takes is a nanosecond.
const noSimulatedQuery = time.Nanosecond

// noSimulatedLatency turns the simulated dependencies' latencies off, so the
// pipeline is measured rather than the sleeps, and gives the inventory
// database a connection per worker, so it is never what limits.
func noSimulatedLatency(workers int) func(*system.Config) {
	return func(c *system.Config) {
		c.Payment.GatewayLatency, c.Payment.GatewayJitter = 0, 0
		c.Shipping.CarrierLatency, c.Shipping.CarrierJitter = 0, 0
		c.Inventory.Conns, c.Inventory.QueryLatency = workers, noSimulatedQuery
	}
}

// demoLatency is what `sagascope demo` runs with.
var demoLatency = system.DefaultDependencies

// startTimeout bounds how long the demo's instances take to start;
// startSettle is how long background loops get to start after that.
const (
	startTimeout = 15 * time.Second
	startSettle  = 250 * time.Millisecond
)

// demo is the saga system running on the bench server.
type demo struct {
	cancel context.CancelFunc
	done   chan error
}

// startDemo prepares the saga's streams, buckets and consumers (idempotent)
// and runs every service with default instances and b.o.Workers workers,
// the load generator paused, until stop. It returns once every instance
// consumes.
func (b *bench) startDemo(ctx context.Context, deps func(*system.Config)) (*demo, error) {
	cfg := system.Config{
		Connect: func(_ context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(b.url, nats.Name(name), nats.MaxReconnects(-1))
		},
		Workers:  b.o.Workers,
		Topology: b.topo,
		// Rate 0 pauses it; the latency phases set their rate through the
		// control API, as `sagascope load` does.
		Load:    &loadgen.Config{Rate: 0},
		Version: "bench",
		Log:     b.o.Log,
	}
	deps(&cfg)
	if err := system.Prepare(ctx, cfg); err != nil {
		return nil, fmt.Errorf("prepare the saga: %w", err)
	}
	instances := system.Instances(cfg)
	run, cancel := context.WithCancel(ctx)
	d := &demo{cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- system.RunInstances(run, instances) }()
	deadline := time.Now().Add(startTimeout)
	for {
		ready := true
		for _, in := range instances {
			ready = ready && in.Ready()
		}
		if ready {
			// Background loops (load generator, sweeper) start their
			// watches just after; let their start-up writes and
			// advisories land before anything is measured.
			if err := pause(ctx, startSettle); err != nil {
				return nil, errors.Join(err, d.stop())
			}
			return d, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("saga instances not ready after %s", startTimeout), d.stop())
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return nil, errors.Join(err, d.stop())
		}
	}
}

// stop shuts the instances down gracefully and waits until they are down.
func (d *demo) stop() error {
	d.cancel()
	if err := <-d.done; err != nil {
		return fmt.Errorf("saga system: %w", err)
	}
	return nil
}

// drainTimeout bounds the wait for the standing queue to drain after the
// saturation window: Backlog sagas at no less than a few hundred a second.
const drainTimeout = 30 * time.Second

// saturation measures the saga with a standing queue of orders: completed
// sagas per second over a window after a warm-up, the JetStream writes in the
// window, and, exactly, the writes per saga of the whole phase, from idle to
// idle.
func (b *bench) saturation(ctx context.Context) (Saturation, error) {
	var s Saturation
	if err := b.waitIdle(ctx, drainTimeout); err != nil {
		return s, err
	}
	before, err := b.mark(ctx, true)
	if err != nil {
		return s, err
	}
	f, err := b.startFeeder(ctx, "sagascope bench order feeder", contract.EventSubjects(contract.Orders), b.o.Backlog,
		func() (*nats.Msg, error) { return placeOrder(b.topo.Seed) })
	if err != nil {
		return s, err
	}
	m0, m1, err := b.window(ctx, true)
	if err == nil {
		// Still queued at the end of the window: proof the saga never ran
		// dry, so what it finished is what it can do.
		s.Queued, _, err = b.sagaQueue()
	}
	if ferr := f.stop(); err == nil {
		err = ferr
	}
	if err != nil {
		return s, err
	}
	s.Throughput = m1.throughputSince(m0)
	s.Done = m1.completed - m0.completed
	s.Cancelled = m1.cancelled - m0.cancelled

	if err := b.waitIdle(ctx, drainTimeout); err != nil {
		return s, err
	}
	after, err := b.mark(ctx, true)
	if err != nil {
		return s, err
	}
	s.Sagas = after.finished() - before.finished()
	s.PhaseWrites, s.ByStream = after.writesSince(before)
	return s, nil
}

// placeOrder is a place-order command for a random seeded customer and
// product, as the load generator publishes it.
func placeOrder(seed contract.Seed) (*nats.Msg, error) {
	env := contract.NewEnvelope(contract.PlaceOrder, loadgen.RandomOrder(seed), nil, 0, time.Now())
	data, err := env.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode order: %w", err)
	}
	msg := nats.NewMsg(contract.Subject(env.Type))
	msg.Data = data
	msg.Header.Set(contract.MsgIDHeader, env.ID)
	msg.Header.Set(contract.SagaHeader, env.SagaID)
	return msg, nil
}
