// Package bench measures how much of its JetStream server the saga demo
// turns into completed sagas. In one run, on one embedded server (file store,
// clients over TCP loopback), it measures a raw JetStream relay as the
// reference for what the server can do, the saga's throughput at saturation
// and the JetStream writes each saga costs, and end-to-end saga latency at a
// fixed rate. Figures drift ±12% between runs on a small machine, so the saga
// is only ever judged as a ratio to the reference measured in the same run.
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
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/topology"
)

// Phase selects the measurements of a run; phases combine with |.
type Phase uint8

// The measurements, in the order a run makes them.
const (
	// PhaseRelay is the reference: a raw JetStream relay, measured before
	// the saga phases and again after the saga without simulated latency,
	// so drift during the run shows and averages out.
	PhaseRelay Phase = 1 << iota
	// PhaseSaturation is saga throughput and writes per saga with a
	// standing queue of orders and no simulated dependency latency.
	PhaseSaturation
	// PhaseLatency is end-to-end saga latency at LatencyRate without
	// simulated dependency latency.
	PhaseLatency
	// PhaseDemoLatency is the same with the demo's simulated latencies
	// (system.DefaultDependencies).
	PhaseDemoLatency

	// AllPhases is every measurement; it is what a zero Phases means.
	AllPhases = PhaseRelay | PhaseSaturation | PhaseLatency | PhaseDemoLatency
)

// Options configures Run. The zero value is the full benchmark, about 80 s
// on two cores.
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
}

// Defaults, chosen so a full run takes well under two minutes.
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
}

// Run starts an embedded server, makes the measurements o asks for, prints
// the report to w and returns the figures. It returns when everything it
// started has stopped; ctx cancels the run.
func Run(ctx context.Context, o Options, w io.Writer) (Result, error) {
	o = o.withDefaults()
	res := Result{Options: o}
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
	relay := func() error {
		if ph&PhaseRelay == 0 {
			return nil
		}
		b.o.Log.Info("measuring the relay reference")
		t, err := b.relay(ctx)
		if err != nil {
			return fmt.Errorf("relay reference: %w", err)
		}
		res.Relay = append(res.Relay, t)
		return nil
	}
	if err := relay(); err != nil {
		return err
	}
	if ph&(PhaseSaturation|PhaseLatency) != 0 {
		d, err := b.startDemo(ctx, noSimulatedLatency(b.o.Workers))
		if err != nil {
			return err
		}
		if ph&PhaseSaturation != 0 {
			b.o.Log.Info("measuring the saga at saturation")
			res.Saturation, err = b.saturation(ctx)
			if err != nil {
				err = fmt.Errorf("saga at saturation: %w", err)
			}
		}
		if err == nil && ph&PhaseLatency != 0 {
			b.o.Log.Info("measuring latency without simulated latency")
			var l Latency
			l, err = b.latency(ctx, false)
			res.Latency = append(res.Latency, l)
		}
		if serr := d.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
		// The second reference brackets the saga phases in time.
		if err := relay(); err != nil {
			return err
		}
	}
	if ph&PhaseDemoLatency != 0 {
		d, err := b.startDemo(ctx, demoLatency)
		if err != nil {
			return err
		}
		b.o.Log.Info("measuring latency with the demo's simulated latencies")
		l, err := b.latency(ctx, true)
		res.Latency = append(res.Latency, l)
		if serr := d.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// phaseName is the name ParsePhases accepts for a phase.
type phaseName struct {
	phase Phase
	name  string
}

// phaseNames lists the phases in run order.
var phaseNames = []phaseName{
	{PhaseRelay, "relay"},
	{PhaseSaturation, "saturation"},
	{PhaseLatency, "latency"},
	{PhaseDemoLatency, "demo-latency"},
}

// ErrUnknownPhase reports a phase name ParsePhases does not know.
var ErrUnknownPhase = errors.New("unknown phase (want relay, saturation, latency, demo-latency or all)")

// ParsePhases parses a comma-separated list of phase names, as a flag
// gives them: "saturation", "relay,saturation"; "" and "all" mean
// AllPhases.
func ParsePhases(list string) (Phase, error) {
	var p Phase
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || name == "all" {
			p |= AllPhases
			continue
		}
		i := slices.IndexFunc(phaseNames, func(n phaseName) bool { return n.name == name })
		if i < 0 {
			return 0, fmt.Errorf("%w: %q", ErrUnknownPhase, name)
		}
		p |= phaseNames[i].phase
	}
	return p, nil
}

// String lists the phases by name, as ParsePhases reads them.
func (p Phase) String() string {
	var names []string
	for _, n := range phaseNames {
		if p&n.phase != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// plan says what a run will do and about how long it takes.
func (p Phase) plan(o Options) string {
	var parts []string
	var d time.Duration
	if p&PhaseRelay != 0 {
		parts = append(parts, "jetstream relay reference")
		d += o.Warmup + o.Window
		if p&(PhaseSaturation|PhaseLatency) != 0 {
			d += o.Warmup + o.Window
		}
	}
	if p&PhaseSaturation != 0 {
		parts = append(parts, "saga at saturation")
		d += o.Warmup + o.Window + 2*time.Second
	}
	if p&PhaseLatency != 0 {
		parts = append(parts, fmt.Sprintf("latency at %g/s", o.LatencyRate))
		d += o.Warmup + o.LatencyWindow
	}
	if p&PhaseDemoLatency != 0 {
		parts = append(parts, fmt.Sprintf("latency at %g/s with demo latencies", o.LatencyRate))
		d += o.Warmup + o.LatencyWindow
	}
	return fmt.Sprintf("%s (about %s)", strings.Join(parts, ", "), (d + 5*time.Second).Round(time.Second))
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

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errIncomplete reports work that did not finish in time.
var errIncomplete = errors.New("did not finish in time")
