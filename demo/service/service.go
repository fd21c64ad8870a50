// Package service runs one instance of one demo service: its own NATS
// connection, its worker pools on its durable consumers, the faults it must
// apply, its control endpoints and its status feed. A crash fault closes the
// connection without acking and starts the instance again after a delay, as a
// real process restart would.
//
// The instance is where the crash fault (Instance.onFault, Instance.await)
// and the pause fault (Instance.pause) take effect; demo/fault's package doc
// says where the other kinds do.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control/endpoint"
	"github.com/sagascope/sagascope/demo/fault"
	"github.com/sagascope/sagascope/demo/topology"
	"github.com/sagascope/sagascope/demo/worker"
	"github.com/sagascope/sagascope/telemetry"
	"github.com/sagascope/sagascope/telemetry/metrics"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Route is how one durable consumer's messages are handled.
type Route struct {
	Handle worker.Handler
	GiveUp worker.GiveUp
}

// Env is what a service's handlers are built from on every (re)start.
type Env struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Faults   *fault.Table
	Counters *worker.Counters
	Log      *slog.Logger
	Now      func() time.Time
	// Tracer makes spans that are not about a handled message (the load
	// generator's orders, the sweeper's timeouts); nil when tracing is off.
	// Handlers need not use it: the context they get holds their span.
	Tracer *sagaspan.Tracer
	// Metrics records the service's own metrics (saga outcomes and
	// latencies); nil records nothing.
	Metrics *metrics.Instance
}

// Binding is what a service contributes to its instance.
type Binding struct {
	// Routes maps durable consumer names (topology.ConsumersOf) to handlers.
	Routes map[string]Route
	// Breakers reports the service's circuit breakers, if any.
	Breakers func() []contract.BreakerStatus
	// Background, if set, runs beside the pools until its context ends
	// (the orchestrator's timeout sweeper, the load generator).
	Background func(ctx context.Context) error
	// Load reports the load generator's state, if this instance runs one.
	Load func() *contract.LoadStatus
}

// Service builds a Binding over fresh connections. Bind is called at start
// and after every simulated crash.
type Service interface {
	Name() contract.Service
	Bind(ctx context.Context, env Env) (Binding, error)
}

// Config configures an instance.
type Config struct {
	Service Service
	// Connect opens a new connection; it is called at start and on restart
	// after a crash.
	Connect  func(ctx context.Context, name string) (*nats.Conn, error)
	Instance string
	Version  string
	// Workers per consumer.
	Workers  int
	Topology topology.Options
	// StatusEvery is the status publishing period (default 500ms).
	StatusEvery time.Duration
	Log         *slog.Logger
	Now         func() time.Time
	// Telemetry traces, ships logs and records metrics for every life of
	// the instance, and adds its readiness to the process's; nil: none.
	Telemetry *telemetry.Telemetry
}

// crashGrace is how long a crashing instance lets its control replies go
// out before it drops its connection.
const crashGrace = 200 * time.Millisecond

// Instance is one running service instance.
type Instance struct {
	cfg     Config
	svc     contract.Service
	started time.Time
	faults  *fault.Table
	count   worker.Counters
	log     *slog.Logger

	state atomic.Value // string: contract.State*
	ready atomic.Bool
	conn  atomic.Pointer[nats.Conn] // of the current life

	mu      sync.Mutex
	pools   []*worker.Pool
	binding Binding
	crash   chan contract.Fault
	crashed time.Time // Set time of the crash fault last obeyed

	// pausing serialises pause and resume requests, so a quick set and
	// clear reach the server in that order; pauses is waited for by Run.
	pausing sync.Mutex
	pauses  sync.WaitGroup
}

// New prepares an instance; Run starts it.
func New(cfg Config) *Instance {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 500 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	svc := cfg.Service.Name()
	in := &Instance{
		cfg: cfg, svc: svc, started: cfg.Now(),
		faults: fault.NewTable(svc, cfg.Now),
		log:    cfg.Log.With("service", string(svc), "instance", cfg.Instance),
		crash:  make(chan contract.Fault, 1),
	}
	in.state.Store(contract.StateRunning)
	return in
}

// Ready reports whether the instance is connected and consuming (for a
// readiness probe): false while crashed, disconnected or reconnecting, or
// draining.
func (in *Instance) Ready() bool {
	nc := in.conn.Load()
	return in.ready.Load() && nc != nil && nc.IsConnected()
}

// Run runs the instance until ctx ends, then shuts down gracefully: it stops
// answering control requests, stops pulling, finishes and acks the work in
// hand, and drains its connection. A crash fault makes it stop abruptly and
// start again after the fault's RestartAfter.
func (in *Instance) Run(ctx context.Context) error {
	in.faults.OnChange(in.onFault)
	defer in.pauses.Wait()
	defer in.cfg.Telemetry.Watch(string(in.svc)+"/"+in.cfg.Instance, in.Ready)()
	for {
		crash, err := in.runOnce(ctx)
		if err != nil {
			return err
		}
		if crash == nil {
			return nil
		}
		in.state.Store(contract.StateCrashed)
		in.log.Warn("crashed by fault; restarting later", "after", crash.RestartAfter)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(crash.RestartAfter):
		}
		in.state.Store(contract.StateRunning)
	}
}

// runOnce runs one life of the instance. It returns the crash fault that
// ended it, or nil after a graceful shutdown.
//
// A life is three layers, each a function that releases what it made, once,
// before it returns: runOnce the connection, live the telemetry that
// publishes on it, serve the fault watch, pools, control endpoints and
// status feed. So everything stops before the telemetry flushes, and the
// telemetry flushes before the connection goes.
func (in *Instance) runOnce(ctx context.Context) (*contract.Fault, error) {
	nc, err := in.cfg.Connect(ctx, fmt.Sprintf("sagascope %s %s", in.svc, in.cfg.Instance))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.svc, err)
	}
	defer nc.Close() // does nothing once drained, or closed by a crash
	in.conn.Store(nc)
	crash, err := in.live(ctx, nc)
	if crash == nil && err == nil {
		if err := drain(nc); err != nil {
			in.log.Warn("drain connection", "error", err)
		}
	}
	return crash, err
}

// live runs one life on nc with its own telemetry, and ends the telemetry
// (flushing spans while nc is up, unless a crash closed it) on every path
// out.
func (in *Instance) live(ctx context.Context, nc *nats.Conn) (*contract.Fault, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%s: jetstream: %w", in.svc, err)
	}
	life, endLife := context.WithCancel(ctx)
	defer endLife()
	controlKV, err := js.KeyValue(life, contract.ControlBucket)
	if err != nil {
		return nil, fmt.Errorf("%s: open control bucket (run topology first): %w", in.svc, err)
	}
	tel, err := in.cfg.Telemetry.Begin(life, telemetry.InstanceConfig{
		Service: string(in.svc), Instance: in.cfg.Instance, Version: in.cfg.Version,
		Conn: nc, JetStream: js, Log: in.log, Prefix: contract.Prefix, SagaHeader: contract.SagaHeader,
		Metrics: in.metricsSource(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.svc, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			in.log.Warn("shut down telemetry", "error", err)
		}
	}()
	crash, err := in.serve(life, nc, js, controlKV, tel)
	if crash == nil && err == nil {
		tel.Log.Info("stopped")
	}
	return crash, err
}

// serve applies the service's faults, runs its pools, background loop,
// control endpoints and status feed until ctx ends (graceful: the work in
// hand is finished and acked) or a crash fault fires (nc is closed with the
// work in hand unacked). Everything it started has stopped when it returns.
func (in *Instance) serve(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, controlKV jetstream.KeyValue, tel *telemetry.Instance) (*contract.Fault, error) {
	log := tel.Log
	// The fault watch and the status feed stop last, after the pools.
	watching, stopWatching := context.WithCancel(ctx)
	var feed sync.WaitGroup
	watchDone, err := fault.Watch(watching, controlKV, in.faults, log)
	defer func() {
		stopWatching()
		feed.Wait()
		if watchDone != nil {
			<-watchDone
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.svc, err)
	}
	env := Env{NC: nc, JS: js, Faults: in.faults, Counters: &in.count, Log: log, Now: in.cfg.Now, Tracer: tel.Tracer, Metrics: tel.Metrics}
	binding, pools, err := in.bind(watching, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.svc, err)
	}
	in.mu.Lock()
	in.pools, in.binding = pools, binding
	in.mu.Unlock()

	ctl, err := endpoint.Serve(nc, endpoint.Config{
		Service: in.svc, Instance: in.cfg.Instance, Version: in.cfg.Version,
		Control: controlKV, Status: in.Status, Now: in.cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: serve control endpoints: %w", in.svc, err)
	}

	// Pools and the background loop stop on `consume`, before the watch
	// and the feed.
	var crash *contract.Fault
	consume, stopConsuming := context.WithCancel(watching)
	var running sync.WaitGroup
	defer func() {
		stopConsuming()
		running.Wait()
		if crash == nil {
			in.publishOnce(nc) // say "draining" before going away
		}
	}()
	for _, p := range pools {
		running.Go(func() {
			if err := p.Run(consume); err != nil {
				log.Error("worker pool stopped", "error", err)
			}
		})
	}
	if binding.Background != nil {
		running.Go(func() {
			if err := binding.Background(consume); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("background loop stopped", "error", err)
			}
		})
	}
	feed.Go(func() { in.publishStatus(watching, nc) })
	in.ready.Store(true)
	log.Info("started", "consumers", len(pools), "workers", in.cfg.Workers)

	crash = in.await(ctx, nc, ctl)
	return crash, nil
}

// await waits until ctx ends or a crash fault fires, then stops answering
// control requests. A crash also drops nc, so nothing in hand is acked; it
// returns the crash fault then.
func (in *Instance) await(ctx context.Context, nc *nats.Conn, ctl micro.Service) *contract.Fault {
	var crash *contract.Fault
	select {
	case <-ctx.Done():
		// Graceful: readiness off, no new control requests, finish work.
		in.state.Store(contract.StateDraining)
	case f := <-in.crash:
		crash = &f
		in.faults.Fired(contract.FaultCrash)
	}
	in.ready.Store(false)
	_ = ctl.Stop()
	if crash != nil {
		// The control request that set this fault may still be
		// answering (its handler wrote the fault and the watch delivered
		// it here at once): let its reply go out, then drop the connection
		// so nothing else in hand is acked. The spans not yet exported are
		// lost with it, as in a real crash.
		time.Sleep(crashGrace)
		_ = nc.FlushTimeout(crashGrace)
		nc.Close()
	}
	return crash
}

// bind binds the service over env and builds a pool on each of its
// consumers; nothing runs yet.
func (in *Instance) bind(ctx context.Context, env Env) (Binding, []*worker.Pool, error) {
	binding, err := in.cfg.Service.Bind(ctx, env)
	if err != nil {
		return Binding{}, nil, err
	}
	var pools []*worker.Pool
	for _, c := range topology.ConsumersOf(in.cfg.Topology, in.svc) {
		route, ok := binding.Routes[c.Config.Durable]
		if !ok {
			return Binding{}, nil, fmt.Errorf("no handler for consumer %s", c.Config.Durable)
		}
		cons, err := env.JS.Consumer(ctx, c.Stream, c.Config.Durable)
		if err != nil {
			return Binding{}, nil, fmt.Errorf("bind consumer %s: %w", c.Config.Durable, err)
		}
		p, err := worker.New(worker.Config{
			Service: in.svc, Stream: c.Stream, Consumer: cons, JetStream: env.JS,
			Workers: in.cfg.Workers, Handler: route.Handle, GiveUp: route.GiveUp,
			MaxDeliver: c.Config.MaxDeliver, AckWait: c.Config.AckWait,
			Counters: env.Counters, Faults: env.Faults, Log: env.Log,
			Tracer: env.Tracer, Metrics: env.Metrics,
		})
		if err != nil {
			return Binding{}, nil, err
		}
		pools = append(pools, p)
	}
	return binding, pools, nil
}

// drain drains nc and waits until it is closed.
func drain(nc *nats.Conn) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		return err
	}
	select {
	case <-closed:
		return nil
	case <-time.After(10 * time.Second):
		nc.Close()
		return errors.New("connection did not drain within 10s")
	}
}

// onFault reacts to faults that act on the instance itself rather than on a
// message: crash and pause.
func (in *Instance) onFault(f contract.Fault, active bool) {
	switch f.Kind {
	case contract.FaultCrash:
		in.mu.Lock()
		// Obey each crash fault once, and only if it was set while this
		// instance was running (a restarted process must not crash again).
		obey := active && f.Set.After(in.started) && f.Set.After(in.crashed)
		if obey {
			in.crashed = f.Set
		}
		in.mu.Unlock()
		if obey {
			select {
			case in.crash <- f:
			default:
			}
		}
	case contract.FaultPause:
		// The request takes a round trip; the fault table's watcher must
		// not wait for it.
		in.pauses.Go(func() { in.pause(f, active) })
	}
}

// resumeDelay is how long after a pause is cleared the consumer resumes.
const resumeDelay = time.Second

// pause pauses or resumes the service's command consumer on the server, so
// the dashboard and `nats consumer info` show it paused.
func (in *Instance) pause(f contract.Fault, active bool) {
	in.pausing.Lock()
	defer in.pausing.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := in.cfg.Connect(ctx, "sagascope pause")
	if err != nil {
		in.log.Warn("pause consumer: connect", "error", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	stream, durable := contract.StreamName(in.svc), contract.CommandConsumer(in.svc)
	if active {
		in.faults.Fired(contract.FaultPause)
		until := f.Expires
		if until.IsZero() {
			until = in.cfg.Now().Add(contract.MaxFaultDuration)
		}
		_, err = js.PauseConsumer(ctx, stream, durable, until)
	} else {
		// Resume by pausing until a moment from now: the server wakes a
		// consumer whose pause expires, but not one resumed explicitly,
		// which waited for the next heartbeat (measured: 11.5 s idle). The
		// moment must still be ahead when the request arrives, even on a
		// loaded machine, or the server takes it as an explicit resume.
		_, err = js.PauseConsumer(ctx, stream, durable, in.cfg.Now().Add(resumeDelay))
	}
	if err != nil {
		in.log.Warn("pause/resume consumer", "active", active, "error", err)
	}
}

// Status reports the instance now.
func (in *Instance) Status() contract.Status {
	in.mu.Lock()
	pools, binding := in.pools, in.binding
	in.mu.Unlock()
	st := contract.Status{
		V: contract.Version, Service: in.svc, Instance: in.cfg.Instance, Version: in.cfg.Version,
		Time: in.cfg.Now().UTC(), State: in.state.Load().(string),
		Counters: in.count.Snapshot(), Faults: in.faults.List(),
	}
	for _, p := range pools {
		ps := p.Status()
		st.Pool.Capacity += ps.Capacity
		st.Pool.Busy += ps.Busy
		st.Pool.Queued += ps.Queued
	}
	for _, c := range topology.ConsumersOf(in.cfg.Topology, in.svc) {
		st.Consumers = append(st.Consumers, c.Stream+"/"+c.Config.Durable)
	}
	if st.State == contract.StateCrashed {
		st.Pool = contract.PoolStatus{Capacity: st.Pool.Capacity}
	}
	if binding.Breakers != nil {
		st.Breakers = binding.Breakers()
	}
	if binding.Load != nil {
		st.Load = binding.Load()
	}
	return st
}

func (in *Instance) publishStatus(ctx context.Context, nc *nats.Conn) {
	t := time.NewTicker(in.cfg.StatusEvery)
	defer t.Stop()
	for {
		in.publishOnce(nc)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *Instance) publishOnce(nc *nats.Conn) {
	data, err := json.Marshal(in.Status())
	if err != nil {
		return
	}
	_ = nc.Publish(contract.StatusSubject(in.svc, in.cfg.Instance), data)
}
