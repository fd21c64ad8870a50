// Package loadgen places orders at an adjustable rate. The rate lives in the
// control bucket (contract.LoadKey), so `sagascope load`, the dashboard and
// scenarios change it at runtime; a burst fault multiplies it and a burst
// request places a one-off batch. The generator is a client of the system,
// not part of a service: RunClient runs it on a connection of its own, as
// demo/system does beside the services of a process that runs orders.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"golang.org/x/time/rate"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/internal/kvfollow"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Config configures a Generator.
type Config struct {
	// Rate is the orders per second to start with when the control bucket
	// has no setting yet (an existing setting wins, so restarting a process
	// keeps what the user chose).
	Rate float64
	// MaxInFlight bounds unacknowledged publishes (default 1024).
	MaxInFlight int
	Log         *slog.Logger
	// Tracer roots a trace at every placed order: the saga's spans in every
	// service descend from it. Nil traces nothing.
	Tracer *sagaspan.Tracer
}

// Faults is the part of the fault table the generator reads.
type Faults interface {
	Active(kind contract.FaultKind) (contract.Fault, bool)
}

// Generator places orders. Status is safe for concurrent use.
type Generator struct {
	cfg     Config
	rate    atomic.Uint64 // float64 bits: the configured rate
	placed  atomic.Uint64
	failed  atomic.Uint64
	limiter *rate.Limiter
	faults  atomic.Value // Faults: set by Run, read by Status on the status goroutine
}

// New returns a generator; Run starts it.
func New(cfg Config) *Generator {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Generator{cfg: cfg, limiter: rate.NewLimiter(0, 1)}
}

// Status reports the generator.
func (g *Generator) Status() *contract.LoadStatus {
	r := g.Rate()
	return &contract.LoadStatus{Rate: r, Effective: g.effective(r), Placed: g.placed.Load()}
}

// Rate is the configured rate.
func (g *Generator) Rate() float64 { return math.Float64frombits(g.rate.Load()) }

func (g *Generator) effective(r float64) float64 {
	if faults, _ := g.faults.Load().(Faults); faults != nil {
		if f, ok := faults.Active(contract.FaultBurst); ok && f.Multiplier > 0 {
			return r * f.Multiplier
		}
	}
	return r
}

// Run places orders until ctx ends. faults may be nil.
func (g *Generator) Run(ctx context.Context, js jetstream.JetStream, faults Faults) error {
	if faults != nil {
		g.faults.Store(faults)
	}
	control, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		return fmt.Errorf("load generator: open %s: %w", contract.ControlBucket, err)
	}
	seed, err := readSeed(ctx, control)
	if err != nil {
		return fmt.Errorf("load generator: %w", err)
	}
	initial := contract.LoadSetting{Rate: g.cfg.Rate, Updated: time.Now().UTC()}
	if b, err := json.Marshal(initial); err == nil {
		_, _ = control.Create(ctx, contract.LoadKey, b) // keeps an existing setting
	}
	// Settings come from a follower of the load key; bursts are handed to
	// this loop, which places them. Bursts in the value found at start
	// happened before this generator started; only later ones are placed.
	fctx, stopFollowing := context.WithCancel(ctx)
	bursts := make(chan int, 64)
	var started atomic.Bool
	var lastBurst uint64
	apply := func(e jetstream.KeyValueEntry) {
		var s contract.LoadSetting
		if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &s) != nil {
			return
		}
		g.rate.Store(math.Float64bits(s.Rate))
		if s.BurstID <= lastBurst {
			return
		}
		lastBurst = s.BurstID
		if started.Load() && s.Burst > 0 {
			select {
			case bursts <- s.Burst:
			case <-fctx.Done():
			}
		}
	}
	follow, err := kvfollow.Follow(fctx, control, kvfollow.Options{
		Filter: contract.LoadKey, Keys: []string{contract.LoadKey}, Apply: apply,
		Restarted: func(err error) { g.cfg.Log.Info("load setting watch was silent, watching again", "error", err) },
	})
	if err != nil {
		stopFollowing()
		return fmt.Errorf("load generator: %w", err)
	}
	defer func() { stopFollowing(); <-follow }()
	started.Store(true)

	pub := &publisher{js: js, inflight: make(chan struct{}, g.cfg.MaxInFlight), g: g, tracer: g.cfg.Tracer}
	defer pub.wait()

	for {
		// Between settings, place orders at the current effective rate.
		select {
		case <-ctx.Done():
			return nil
		case n := <-bursts:
			g.cfg.Log.Info("placing burst", "orders", n)
			for range n {
				if err := pub.place(ctx, seed); err != nil {
					return nil
				}
			}
			continue
		default:
		}
		r := g.effective(g.Rate())
		if r <= 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if g.limiter.Limit() != rate.Limit(r) {
			g.limiter.SetLimit(rate.Limit(r))
			g.limiter.SetBurst(max(1, int(r/20)))
		}
		// Wait at most a tick so setting changes are seen promptly.
		tick, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := g.limiter.Wait(tick)
		cancel()
		if err != nil {
			continue
		}
		if err := pub.place(ctx, seed); err != nil {
			return nil
		}
	}
}

// publisher publishes place-order commands asynchronously with a bound on
// unacknowledged ones, so a generator outrunning the server waits instead
// of buffering without end.
type publisher struct {
	js       jetstream.JetStream
	inflight chan struct{}
	wg       sync.WaitGroup
	g        *Generator
	tracer   *sagaspan.Tracer
}

// placeTimeout bounds the wait for a stream's ack. A publish caught by a
// stream leader that dies is never answered, and an unbounded wait would
// hold the generator (and its shutdown) forever.
const placeTimeout = 10 * time.Second

func (p *publisher) place(ctx context.Context, seed contract.Seed) error {
	o := RandomOrder(seed)
	env := contract.NewEnvelope(contract.PlaceOrder, o, nil, 0, time.Now())
	data, err := env.Encode()
	if err != nil {
		return err
	}
	select {
	case p.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	msg := nats.NewMsg(contract.Subject(env.Type))
	msg.Data = data
	msg.Header.Set(contract.MsgIDHeader, env.ID)
	msg.Header.Set(contract.SagaHeader, env.SagaID)
	// The root span of the saga's trace; it ends when the stream acks.
	_, span := p.tracer.Publish(ctx, msg)
	fut, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		sagaspan.End(span, err)
		<-p.inflight
		p.g.failed.Add(1)
		return nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.inflight }()
		timeout := time.NewTimer(placeTimeout)
		defer timeout.Stop()
		select {
		case ack := <-fut.Ok():
			sagaspan.Published(span, ack, nil)
			p.g.placed.Add(1)
		case err := <-fut.Err():
			sagaspan.End(span, err)
			p.g.failed.Add(1)
		case <-timeout.C:
			sagaspan.End(span, fmt.Errorf("place order %s: no ack from the stream in %v", o.ID, placeTimeout))
			p.g.failed.Add(1)
		}
	}()
	return nil
}

func (p *publisher) wait() { p.wg.Wait() }

// RandomOrder makes an order for a seeded customer and product.
func RandomOrder(seed contract.Seed) contract.Order {
	qty := int64(1 + rand.IntN(3))
	return contract.Order{
		ID:       nuid.Next(),
		Customer: topology.CustomerID(rand.IntN(max(1, seed.Accounts))),
		SKU:      topology.SKU(rand.IntN(max(1, seed.SKUs))),
		Qty:      qty,
		Amount:   qty * int64(500+rand.IntN(9500)),
	}
}

func readSeed(ctx context.Context, control jetstream.KeyValue) (contract.Seed, error) {
	e, err := control.Get(ctx, contract.SeedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return contract.Seed{}, errors.New("no seed record: run topology first")
	}
	if err != nil {
		return contract.Seed{}, fmt.Errorf("read seed: %w", err)
	}
	var s contract.Seed
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return contract.Seed{}, fmt.Errorf("decode seed: %w", err)
	}
	return s, nil
}
