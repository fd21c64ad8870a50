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
	"github.com/sagascope/sagascope/demo/wait"
	"github.com/sagascope/sagascope/telemetry"
)

// noSimulatedQuery is the inventory database's query latency when the
// simulated latencies are off: sim.DatabaseConfig reads 0 as its 1 ms
// default, so the shortest latency it takes is a nanosecond.
const noSimulatedQuery = time.Nanosecond

// A setup is how the saga system runs for a measurement: its simulated
// dependencies and the share of sagas it traces.
type setup struct {
	deps       func(*system.Config)
	traceRatio float64
}

// pipeline turns the simulated dependencies' latencies off, so the
// pipeline is measured rather than the sleeps, and gives the inventory
// database a connection per worker, so it is never what limits.
func (b *bench) pipeline(traceRatio float64) setup {
	return setup{traceRatio: traceRatio, deps: func(c *system.Config) {
		c.Payment.GatewayLatency, c.Payment.GatewayJitter = 0, 0
		c.Shipping.CarrierLatency, c.Shipping.CarrierJitter = 0, 0
		c.Inventory.Conns, c.Inventory.QueryLatency = b.o.Workers, noSimulatedQuery
	}}
}

// asShipped is the demo as `sagascope demo` runs it by default: simulated
// latencies, every saga traced.
var asShipped = setup{deps: system.DefaultDependencies, traceRatio: 1}

// startTimeout bounds how long the demo's instances take to start;
// startSettle is how long background loops get to start after that.
const (
	startTimeout = 15 * time.Second
	startSettle  = 250 * time.Millisecond
)

// startDemo starts the saga system on the bench server as `sagascope
// demo` would (system.Start): every service with default instances and
// b.o.Workers workers, their telemetry as `sagascope demo` starts it
// (metrics, log shipping and probes on; tracing at s.traceRatio), and the
// load generator paused. It returns once every instance consumes; the
// caller closes the system.
func (b *bench) startDemo(ctx context.Context, s setup) (*system.System, error) {
	cfg := system.Config{
		Connect: func(_ context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(b.url, nats.Name(name), nats.MaxReconnects(-1))
		},
		Workers:  b.o.Workers,
		Topology: b.topo,
		// Rate 0 pauses it; the latency phases set their rate through the
		// control API, as `sagascope load` does.
		Load:    &loadgen.Config{Rate: 0, Log: b.o.Log},
		Version: "bench",
		Log:     b.o.Log,
	}
	s.deps(&cfg)
	sys, err := system.Start(ctx, system.Options{Services: cfg, Telemetry: &telemetry.Config{TraceRatio: s.traceRatio, Log: b.o.Log}})
	if err != nil {
		return nil, fmt.Errorf("start the saga: %w", err)
	}
	deadline := time.Now().Add(startTimeout)
	for !sys.Services().Ready() {
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("saga instances not ready after %s", startTimeout), sys.Close())
		}
		if err := wait.For(ctx, 20*time.Millisecond); err != nil {
			return nil, errors.Join(err, sys.Close())
		}
	}
	// Background loops (load generator, sweeper) start their watches just
	// after; let their start-up writes and advisories land before anything
	// is measured.
	if err := wait.For(ctx, startSettle); err != nil {
		return nil, errors.Join(err, sys.Close())
	}
	return sys, nil
}

// life runs the saga system set up as s for as long as measure takes, then
// stops it.
func (b *bench) life(ctx context.Context, s setup, measure func(*system.System) error) error {
	sys, err := b.startDemo(ctx, s)
	if err != nil {
		return err
	}
	err = measure(sys)
	if cerr := sys.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("saga system: %w", cerr))
	}
	return err
}

// drainTimeout bounds the wait for the standing queue to drain after a
// saturation window: Backlog sagas at no less than a few hundred a second.
const drainTimeout = 30 * time.Second

// saturation measures the saga with a standing queue of orders: completed
// sagas per second over a window after a warm-up. It starts from idle and
// returns the mark it started from once the queue has drained again, so the
// caller can count writes per saga from idle to idle (account).
func (b *bench) saturation(ctx context.Context) (s Saturation, before mark, err error) {
	if err := b.waitIdle(ctx, drainTimeout); err != nil {
		return s, before, err
	}
	if before, err = b.mark(ctx, true); err != nil {
		return s, before, err
	}
	f, err := b.startFeeder(ctx, "sagascope bench order feeder", contract.EventSubjects(contract.Orders), b.o.Backlog,
		func() (*nats.Msg, error) { return placeOrder(b.topo.Seed) })
	if err != nil {
		return s, before, err
	}
	// Every saga finished stores its final event in the orders stream,
	// and the feeder places orders only when one finishes.
	m0, m1, err := b.window(ctx, true, ordersStream, func(m mark) uint64 { return m.completed })
	if err == nil {
		// Still queued at the end of the window: proof the saga never ran
		// dry, so what it finished is what it can do.
		s.Queued, _, err = b.sagaQueue()
	}
	if err = errors.Join(err, f.stop()); err != nil {
		return s, before, err
	}
	s.Throughput = m1.throughputSince(m0)
	s.Done = m1.completed - m0.completed
	s.Cancelled = m1.cancelled - m0.cancelled
	return s, before, b.waitIdle(ctx, drainTimeout)
}

// account counts s's sagas and writes from idle (before) to idle (after).
func (s *Saturation) account(before, after mark) {
	s.Sagas = after.finished() - before.finished()
	s.PhaseWrites, s.ByStream = after.writesSince(before)
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
