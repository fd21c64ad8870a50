// Package bench measures how much of its JetStream server the saga demo
// turns into completed sagas. In one run, on one embedded server (file store,
// clients over TCP loopback), it measures a raw JetStream relay as the
// reference for what the server can do; the saga's throughput at saturation
// and the JetStream writes each saga costs, counted by the server; what
// tracing every saga and attaching the dashboard cost that throughput; and
// end-to-end saga latency at a fixed rate, from the saga's own timestamps.
// Figures drift ±12% between runs on a small machine, so the saga and its
// variants are judged as ratios to references measured in the same run,
// with the windows of each kind placed symmetrically in time.
//
// `go test -run '^$' -bench . -benchtime=1x ./demo/bench` and `sagascope
// bench` both call Run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/system"
	"github.com/sagascope/sagascope/demo/topology"
)

// Options configures Run. The zero value is the full benchmark, about two
// and a half minutes on two cores.
type Options struct {
	// Phases to run; zero means AllPhases.
	Phases Phase
	// DataDir is where the embedded server stores; "" means a fresh
	// temporary directory, removed when Run returns.
	DataDir string
	// Workers per durable consumer, in every saga service and in every
	// relay hop, so the reference runs at the saga's concurrency (default
	// 32, the services' default).
	Workers int
	// Backlog is the standing queue of unfinished chains or sagas while
	// throughput is measured (default 2000): far more than the consumers
	// hold in hand (MaxAckPending 64 each), so no stage idles, and far
	// less than a step timeout's worth of work, so no saga times out.
	Backlog int
	// Warmup runs before every measurement window (default 3 s).
	Warmup time.Duration
	// Window is how long throughput is measured (default 10 s).
	Window time.Duration
	// LatencyRate is the fixed rate of the latency phases in sagas per
	// second (default 200).
	LatencyRate float64
	// LatencyWindow is how long sagas are placed for latency (default 10 s).
	LatencyWindow time.Duration
	// Log receives progress and the embedded server's warnings; nil
	// discards them.
	Log *slog.Logger
	// Dashboard is what the dashboard phase attaches; that phase needs
	// one.
	Dashboard Watcher
}

// Defaults, chosen so a full run takes under three minutes.
const (
	defaultWorkers       = 32
	defaultBacklog       = 2000
	defaultWarmup        = 3 * time.Second
	defaultWindow        = 10 * time.Second
	defaultLatencyRate   = 200
	defaultLatencyWindow = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Phases == 0 {
		o.Phases = AllPhases
	}
	if o.Workers <= 0 {
		o.Workers = defaultWorkers
	}
	if o.Backlog <= 0 {
		o.Backlog = defaultBacklog
	}
	if o.Warmup <= 0 {
		o.Warmup = defaultWarmup
	}
	if o.Window <= 0 {
		o.Window = defaultWindow
	}
	if o.LatencyRate <= 0 {
		o.LatencyRate = defaultLatencyRate
	}
	if o.LatencyWindow <= 0 {
		o.LatencyWindow = defaultLatencyWindow
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// bench is one run: the server, an admin connection to it, the options.
type bench struct {
	o    Options
	srv  *server.Server // read directly, without API requests
	url  string
	topo topology.Options
	nc   *nats.Conn
	js   jetstream.JetStream
	// orders is the orders stream, opened on first use.
	orders jetstream.Stream
}

// Run starts an embedded server, makes the measurements o asks for, prints
// the report to w and returns the figures. It returns when everything it
// started has stopped; ctx cancels the run.
func Run(ctx context.Context, o Options, w io.Writer) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{Options: o}, err
	}
	o = o.withDefaults()
	res := Result{Options: o}
	if o.Phases&PhaseDashboard != 0 && o.Dashboard == nil {
		return res, fmt.Errorf("%w: the dashboard phase needs a dashboard to attach (Options.Dashboard)", ErrOption)
	}
	res.LoadAvg[0], _ = loadAverage()
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sagascope-bench-")
		if err != nil {
			return res, fmt.Errorf("bench: store directory: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	}
	srv, err := embedded.Start(embedded.Options{Port: -1, DataDir: dir, Name: "sagascope-bench", Logf: serverLog(o.Log)})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer srv.Shutdown()

	b := &bench{o: o, srv: srv.NATS(), url: srv.ClientURL(), topo: topology.Options{Seed: topology.DefaultSeed}}
	if b.nc, err = b.connect("sagascope bench"); err != nil {
		return res, err
	}
	defer b.nc.Close()
	if b.js, err = jetstream.New(b.nc); err != nil {
		return res, fmt.Errorf("bench: jetstream: %w", err)
	}
	fmt.Fprintf(w, "sagascope bench: %s\n", o.Phases.plan(o))

	err = b.run(ctx, &res)
	res.LoadAvg[1], _ = loadAverage()
	res.Report(w)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	return res, nil
}

// run makes the measurements in order, filling res as it goes so a failure
// still reports what was measured.
func (b *bench) run(ctx context.Context, res *Result) error {
	ph := b.o.Phases
	for _, step := range ph.steps() {
		var err error
		switch step {
		case stepRelay:
			b.o.Log.Info("measuring the relay references")
			var t Throughput
			t, err = b.relay(ctx, false)
			res.Relay = append(res.Relay, t)
			if err == nil {
				t, err = b.relay(ctx, true)
				res.BestRelay = append(res.BestRelay, t)
			}
		case stepTraced:
			b.o.Log.Info("measuring the saga at saturation, tracing on")
			var s Saturation
			s, err = b.tracedWindow(ctx)
			res.Traced = append(res.Traced, s)
		case stepPlain:
			b.o.Log.Info("measuring the saga at saturation")
			err = b.plainWindows(ctx, res)
		case stepLatency:
			b.o.Log.Info("measuring latency without simulated latency")
			err = b.life(ctx, b.pipeline(0), func(*system.System) error {
				l, err := b.latency(ctx, false)
				res.Latency = append(res.Latency, l)
				return err
			})
		case stepDemoLatency:
			b.o.Log.Info("measuring latency of the demo as shipped")
			err = b.life(ctx, asShipped, func(*system.System) error {
				l, err := b.latency(ctx, true)
				res.Latency = append(res.Latency, l)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

// plainWindows measures the saga with tracing off in one life of the
// system: one window, or, with the dashboard phase, a window with the
// dashboard attached between two without.
func (b *bench) plainWindows(ctx context.Context, res *Result) error {
	return b.life(ctx, b.pipeline(0), func(*system.System) error {
		s, before, err := b.saturation(ctx)
		if err != nil {
			return err
		}
		after, err := b.mark(ctx, true)
		if err != nil {
			return err
		}
		s.account(before, after)
		res.Saga = append(res.Saga, s)
		if b.o.Phases&PhaseDashboard == 0 {
			return nil
		}

		dash, err := b.attachDashboard(ctx)
		if err != nil {
			return err
		}
		s, before, err = b.saturation(ctx)
		frames, seen, derr := dash.detach()
		if err = errors.Join(err, derr); err != nil {
			return err
		}
		// The dashboard's own API requests add advisories: these writes
		// are not the saga's, and are reported only in the table.
		if after, err = b.mark(ctx, true); err != nil {
			return err
		}
		s.account(before, after)
		res.Dashboard = append(res.Dashboard, Dashboard{Saturation: s, Frames: frames, Seen: seen})

		if s, before, err = b.saturation(ctx); err != nil {
			return err
		}
		if after, err = b.mark(ctx, true); err != nil {
			return err
		}
		s.account(before, after)
		res.Saga = append(res.Saga, s)
		return nil
	})
}

// tracedWindow measures the saga with every saga traced in a life of the
// system of its own. Writes per saga are counted up to after the system
// stopped, which stores the last span batches.
func (b *bench) tracedWindow(ctx context.Context) (Saturation, error) {
	var s Saturation
	var before mark
	err := b.life(ctx, b.pipeline(1), func(*system.System) error {
		var err error
		s, before, err = b.saturation(ctx)
		return err
	})
	if err != nil {
		return s, err
	}
	after, err := b.mark(ctx, true)
	if err != nil {
		return s, err
	}
	s.account(before, after)
	return s, nil
}

// connect opens a client connection to the bench server over TCP loopback,
// as a separate process would.
func (b *bench) connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(b.url, nats.Name(name))
	if err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", name, b.url, err)
	}
	return nc, nil
}

// serverLog forwards the embedded server's warnings and errors to log.
func serverLog(log *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) {
		if strings.HasPrefix(format, "[WRN]") || strings.HasPrefix(format, "[ERR]") || strings.HasPrefix(format, "[FTL]") {
			log.Warn("nats-server: " + fmt.Sprintf(format, args...))
		}
	}
}

// errIncomplete reports work that did not finish in time.
var errIncomplete = errors.New("did not finish in time")
