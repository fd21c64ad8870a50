// Package orders is the orders service: the saga orchestrator. It starts a
// saga for every placed order, sends each step's command, follows the other
// services' events, runs compensations in reverse on failure, and times out
// steps that get no answer. The saga's state lives in the sagas KV bucket,
// written with revision checks, so any instance can carry on any saga.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/fold"
	"github.com/sagascope/sagascope/demo/service"
	"github.com/sagascope/sagascope/demo/worker"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Config tunes the orchestrator.
type Config struct {
	// StepTimeout is how long a step may go unanswered before it is
	// compensated (default DefaultStepTimeout).
	StepTimeout time.Duration
	// CompensationAttempts is how often an unanswered compensation is sent
	// before the saga is parked as compensation_failed (default 3).
	CompensationAttempts int
	// SweepEvery is how often deadlines are checked (default 1s).
	SweepEvery time.Duration
	// ScanEvery is how often the whole sagas bucket is scanned for sagas no
	// live instance tracks, e.g. of an instance that never came back
	// (default 2m; every instance also scans once at start).
	ScanEvery time.Duration
	// Load, when set, reports the load generator's state on this
	// instance's status. The generator is a client of the system that the
	// process runs beside its services (see demo/system); an instance of
	// the process reports it, so the dashboard finds it in the status feed.
	Load func() *contract.LoadStatus
}

func (c Config) withDefaults() Config {
	if c.StepTimeout <= 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	if c.CompensationAttempts <= 0 {
		c.CompensationAttempts = 3
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Second
	}
	if c.ScanEvery <= 0 {
		c.ScanEvery = 2 * time.Minute
	}
	return c
}

// DefaultStepTimeout is how long a step may go unanswered by default:
// longer than a step's retries take.
const DefaultStepTimeout = 15 * time.Second

// Service is the orders service.
type Service struct{ cfg Config }

// New returns the orders service.
func New(cfg Config) *Service { return &Service{cfg: cfg.withDefaults()} }

// Name implements service.Service.
func (*Service) Name() contract.Service { return contract.Orders }

// Bind implements service.Service.
func (s *Service) Bind(ctx context.Context, env service.Env) (service.Binding, error) {
	sagas, err := env.JS.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		return service.Binding{}, fmt.Errorf("open %s: %w", contract.SagaBucket, err)
	}
	folder, err := fold.New(ctx, fold.Config{JS: env.JS, Log: env.Log})
	if err != nil {
		return service.Binding{}, err
	}
	o := &orchestrator{cfg: s.cfg, sagas: sagas, env: env, log: env.Log, deadlines: map[string]watch{}}
	route := service.Route{Handle: o.handle}
	routes := map[string]service.Route{contract.CommandConsumer(contract.Orders): route}
	for _, from := range contract.Services[1:] {
		routes[contract.EventConsumer(from)] = route
	}
	// Beside the sweeper, every instance runs a folder: one folds, the
	// others stand by and take over when it stops.
	background := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return o.sweep(ctx) })
		g.Go(func() error { return folder.Run(ctx) })
		return g.Wait()
	}
	return service.Binding{Routes: routes, Load: s.cfg.Load, Background: background}, nil
}

type orchestrator struct {
	cfg   Config
	sagas jetstream.KeyValue
	env   service.Env
	log   *slog.Logger

	mu        sync.Mutex
	deadlines map[string]watch // in-flight sagas this instance watches
}

// watch is an in-flight saga's deadline and the trace context of the
// handler that sent its step in flight, so a timeout and the compensations
// it sends continue the saga's trace. Only the instance that sent the step
// knows it: a saga found by a scan (its instance crashed) times out in a
// trace of its own.
//
// It also keeps the saga's record from this instance's own last write, so
// following an event needs no read: the update is a compare-and-set on that
// revision, and only a conflict (another instance or a redelivery wrote it
// since) falls back to reading the bucket.
type watch struct {
	deadline time.Time
	trace    trace.SpanContext
	// saga and rev are the record this instance last wrote or read, when
	// rev is not zero; maybe stale, so only a successful compare-and-set on
	// rev proves saga was current.
	saga contract.Saga
	rev  uint64
}

// maxConflicts bounds compare-and-set retries on one saga.
const maxConflicts = 20

func (o *orchestrator) handle(ctx context.Context, d worker.Delivery) error {
	if d.Env.Type == contract.PlaceOrder {
		return o.place(ctx, d)
	}
	if contract.IsCommand(d.Env.Type) {
		return worker.Permanent(fmt.Errorf("%s is not for the orders service", d.Env.Type))
	}
	return o.follow(ctx, d)
}

func (o *orchestrator) place(ctx context.Context, d worker.Delivery) error {
	now := o.env.Now().UTC()
	s := start(d.Env.Order, d.Env.ID, now, o.cfg.StepTimeout)
	rev, err := o.sagas.Create(ctx, s.ID, mustJSON(s))
	if errors.Is(err, jetstream.ErrKeyExists) {
		cur, rev, err := o.get(ctx, s.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			// On a replicated bucket the Create can lose to a concurrent one
			// still being replicated (and lost with its leader): not proof of
			// a record, and no reason to dead-letter the order. Redelivery
			// decides on what is there by then.
			return fmt.Errorf("start saga %s: refused with no record to read yet", s.ID)
		}
		if cur.Cause != d.Env.ID {
			// Same order id, different message: not a redelivery.
			if cur.Order == d.Env.Order {
				o.env.Counters.Duplicates.Add(1)
				return nil
			}
			return worker.Permanent(fmt.Errorf("order %s already exists with other contents", s.ID))
		}
		o.env.Counters.Duplicates.Add(1)
		return o.send(ctx, *cur, rev, &d.Env)
	}
	if err != nil {
		return fmt.Errorf("start saga %s: %w", s.ID, err)
	}
	return o.send(ctx, s, rev, &d.Env)
}

// follow applies an event to its saga and sends what the new state calls
// for. Writing the state before sending means an answer can never arrive
// before the state that expects it.
func (o *orchestrator) follow(ctx context.Context, d worker.Delivery) error {
	if done, err := o.followCached(ctx, d); done {
		return err
	}
	for range maxConflicts {
		cur, rev, err := o.get(ctx, d.Env.SagaID)
		if err != nil {
			return err
		}
		if cur == nil {
			return worker.Permanent(fmt.Errorf("%s for unknown saga %s", d.Env.Type, d.Env.SagaID))
		}
		if cur.Cause == d.Env.ID {
			// Redelivered after we stored its effect: send again what it
			// called for (the stream drops the copy if the first went out).
			o.env.Counters.Duplicates.Add(1)
			return o.send(ctx, *cur, rev, &d.Env)
		}
		next, ok := transition(*cur, d.Env, o.env.Now().UTC(), o.cfg.StepTimeout)
		if !ok {
			o.env.Counters.Duplicates.Add(1)
			return nil
		}
		wrote, err := o.sagas.Update(ctx, next.ID, mustJSON(next), rev)
		if err != nil {
			if conflict(err) {
				continue
			}
			return fmt.Errorf("update saga %s: %w", next.ID, err)
		}
		o.observe(ctx, *cur, next, true)
		return o.send(ctx, next, wrote, &d.Env)
	}
	return fmt.Errorf("update saga %s: %d conflicting writes in a row", d.Env.SagaID, maxConflicts)
}

// followCached tries follow's common case on the remembered record: the
// event moves it on and the compare-and-set succeeds, which proves the
// record was current, so the outcome is what a fresh read would have given.
// Anything else (nothing remembered, a redelivery, an event the record does
// not take, a conflict) reports done false and follow reads the bucket:
// a stale record must not decide that an event is a duplicate.
func (o *orchestrator) followCached(ctx context.Context, d worker.Delivery) (done bool, err error) {
	o.mu.Lock()
	w, ok := o.deadlines[d.Env.SagaID]
	o.mu.Unlock()
	if !ok || w.rev == 0 || w.saga.Cause == d.Env.ID {
		return false, nil
	}
	next, ok := transition(w.saga, d.Env, o.env.Now().UTC(), o.cfg.StepTimeout)
	if !ok {
		return false, nil
	}
	wrote, err := o.sagas.Update(ctx, next.ID, mustJSON(next), w.rev)
	if conflict(err) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("update saga %s: %w", next.ID, err)
	}
	o.observe(ctx, w.saga, next, true)
	return true, o.send(ctx, next, wrote, &d.Env)
}

// send publishes what s, stored at revision rev, calls for and tracks its
// deadline.
func (o *orchestrator) send(ctx context.Context, s contract.Saga, rev uint64, cause *contract.Envelope) error {
	typ, attempt := commandFor(s)
	if typ == "" {
		return fmt.Errorf("saga %s in state %s has nothing to send", s.ID, s.Status)
	}
	env := contract.NewEnvelope(typ, s.Order, cause, attempt, o.env.Now())
	if s.Status.Final() {
		env.Reason = s.Reason
	}
	if err := worker.Publish(ctx, o.env.JS, env); err != nil {
		return err
	}
	o.track(s, rev, trace.SpanContextFromContext(ctx))
	return nil
}

// track watches s's deadline; sc, when valid, replaces the trace context
// remembered for it, and rev, when not zero, the record remembered (s at
// revision rev). A final saga is forgotten, which bounds the map by the
// sagas in flight.
func (o *orchestrator) track(s contract.Saga, rev uint64, sc trace.SpanContext) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s.Status.Final() || s.Deadline.IsZero() {
		delete(o.deadlines, s.ID)
		return
	}
	w := o.deadlines[s.ID]
	w.deadline = s.Deadline
	if sc.IsValid() {
		w.trace = sc
	}
	// Records are remembered for at most maxRemembered sagas: an overload
	// that leaves many more in flight costs reads, not memory.
	if rev != 0 && (w.rev != 0 || len(o.deadlines) < maxRemembered) {
		w.saga, w.rev = s, rev
	}
	o.deadlines[s.ID] = w
}

// maxRemembered bounds the saga records kept to skip reads (about 1 KiB
// each); sagas in flight beyond it are read before each update.
const maxRemembered = 10_000

func (o *orchestrator) get(ctx context.Context, id string) (*contract.Saga, uint64, error) {
	e, err := o.sagas.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read saga %s: %w", id, err)
	}
	var s contract.Saga
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, 0, fmt.Errorf("decode saga %s: %w", id, err)
	}
	return &s, e.Revision(), nil
}

// sweep times out sagas whose deadline passed, until ctx ends.
func (o *orchestrator) sweep(ctx context.Context) error {
	if err := o.scan(ctx); err != nil && ctx.Err() == nil {
		o.log.Warn("scan sagas", "error", err)
	}
	tick := time.NewTicker(o.cfg.SweepEvery)
	defer tick.Stop()
	scan := time.NewTicker(o.cfg.ScanEvery)
	defer scan.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-scan.C:
			if err := o.scan(ctx); err != nil && ctx.Err() == nil {
				o.log.Warn("scan sagas", "error", err)
			}
		case <-tick.C:
			now := o.env.Now()
			o.mu.Lock()
			var due []string
			var traces []trace.SpanContext
			for id, w := range o.deadlines {
				if !now.Before(w.deadline) {
					due, traces = append(due, id), append(traces, w.trace)
				}
			}
			o.mu.Unlock()
			for i, id := range due {
				if err := o.expire(ctx, id, traces[i]); err != nil && ctx.Err() == nil {
					o.log.Warn("time out saga", "saga_id", id, "error", err)
				}
			}
		}
	}
}

// expire times out one saga if it is still past its deadline; sc is the
// trace context of the handler that sent its step in flight, if known.
func (o *orchestrator) expire(ctx context.Context, id string, sc trace.SpanContext) error {
	cur, rev, err := o.get(ctx, id)
	if err != nil {
		return err
	}
	if cur == nil {
		o.forget(id)
		return nil
	}
	next, ok := timeout(*cur, o.env.Now().UTC(), o.cfg.StepTimeout, o.cfg.CompensationAttempts)
	if !ok {
		o.track(*cur, rev, trace.SpanContext{}) // another instance moved it on
		return nil
	}
	// The timeout is a child of the handler that sent the step, so the
	// compensations it sends stay in the saga's trace (and follow its
	// sampling decision); without that context it starts a trace of its
	// own, named after the saga.
	if sc.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, sc)
	}
	ctx, span := o.env.Tracer.Internal(ctx, sagaspan.TimeoutSpan, sagaspan.SagaIDKey.String(id))
	err = o.timeOut(ctx, id, *cur, next, rev)
	sagaspan.End(span, err)
	return err
}

func (o *orchestrator) timeOut(ctx context.Context, id string, cur, next contract.Saga, rev uint64) error {
	wrote, err := o.sagas.Update(ctx, id, mustJSON(next), rev)
	if err != nil {
		if conflict(err) {
			return nil // moved on meanwhile; the next sweep looks again
		}
		return fmt.Errorf("update saga %s: %w", id, err)
	}
	o.observe(ctx, cur, next, false)
	o.log.InfoContext(ctx, "saga step timed out", "saga_id", id, "status", next.Status, "reason", next.Reason)
	return o.send(ctx, next, wrote, nil)
}

// observe records what moving a saga from cur to next says: when answered
// (an event moved it, not a timeout), the step or compensation answered,
// after the time since its command was sent; and the saga's end, after the
// time since its order was placed.
func (o *orchestrator) observe(ctx context.Context, cur, next contract.Saga, answered bool) {
	m := o.env.Metrics
	if m == nil {
		return
	}
	for step, was := range cur.Steps {
		if !answered {
			break
		}
		now := next.Steps[step]
		if now != was && (was == contract.StepPending || was == contract.StepCompensating) && now != contract.StepCompensating {
			m.StepAnswered(ctx, string(step), string(now), next.Updated.Sub(cur.Updated))
		}
	}
	if next.Status.Final() && !cur.Status.Final() {
		m.SagaEnded(ctx, string(next.Status), next.Updated.Sub(next.Started))
	}
}

func (o *orchestrator) forget(id string) {
	o.mu.Lock()
	delete(o.deadlines, id)
	o.mu.Unlock()
}

// scan reads every saga once and tracks those in flight, so sagas started
// by an instance that is gone are still timed out.
func (o *orchestrator) scan(ctx context.Context) error {
	w, err := o.sagas.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watch %s: %w", contract.SagaBucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return nil
			}
			var s contract.Saga
			if json.Unmarshal(e.Value(), &s) == nil && !s.Status.Final() {
				o.track(s, e.Revision(), trace.SpanContext{})
			}
		}
	}
}

func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("orders: marshal " + err.Error())
	}
	return b
}
