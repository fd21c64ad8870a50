// Package tui is sagascope's terminal dashboard: it watches a saga system
// on NATS JetStream live (services, breakers, worker pools, lag, sagas,
// advisories, dead letters) and drives its fault-injection control plane.
//
// The data comes from tui/feed; every string from the server is cleaned by
// tui/sanitize before it is drawn. On a NATS system without sagascope
// services it still shows streams, consumers, lag and advisories.
package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/scenario"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/timeline"
)

// Options configure Run. The zero value is usable.
type Options struct {
	// Title says what is being watched, e.g. "embedded demo on
	// nats://127.0.0.1:4222". It is shown in the header.
	Title string
	// RefreshEvery is how often streams and consumers are polled (default
	// 1s). Status, sagas and events arrive as they happen regardless.
	RefreshEvery time.Duration
	// FrameRate bounds redraws per second caused by data (default 10, at
	// most 30), whatever the event rate.
	FrameRate int
	// NoColor draws without colours. The NO_COLOR environment variable does
	// the same.
	NoColor bool
	// ReadOnly hides nothing but sends no control request: fault and load
	// keys say the dashboard is read-only.
	ReadOnly bool
	// BurstSize is how many orders the burst key places (default 500).
	BurstSize int
	// RecentSagas bounds the sagas kept for the Sagas screen (default
	// 2,000).
	RecentSagas int
	// Scenarios is the system the Scenarios screen runs scenarios on:
	// scenario.Attached for a system reached over the network (faults and
	// load only), or a target that owns the processes. Nil leaves the
	// screen a catalogue that says how to run them headless.
	Scenarios scenario.Target
	// ScenarioScale multiplies a scenario's waits and holds (0 means 1),
	// as `sagascope scenario run --scale` does.
	ScenarioScale float64
	// System, when set, is a connection in the system account: streams
	// and consumers are read from the servers' monitoring (one request a
	// server a refresh) instead of the JetStream API. The caller closes it.
	System *nats.Conn
	// Name is who this dashboard's answers to a scenario's questions come
	// from (sagascope tui --name); "" is "anonymous".
	Name string
	// History is how far back the dashboard can rewind (default 15m);
	// negative keeps no history (p still pauses). What it costs is
	// measured by BenchmarkHistory.
	History time.Duration
	// Record, when set, is also given every snapshot, telemetry frame and
	// run event (--record); Run flushes it every second. The caller
	// closes its writer after Run returns.
	Record *Recorder
	// Input and Output default to the terminal (stdin and stdout).
	Input  io.Reader
	Output io.Writer
}

// Run runs the dashboard on the terminal until the user quits (q) or ctx
// ends, then restores the terminal. It does not own nc. nats.go prints
// asynchronous errors (such as permission violations) to stderr unless the
// connection has an ErrorHandler; under a full-screen program that garbles
// the screen, so callers should connect with one (the dashboard shows the
// connection's last error itself).
func Run(ctx context.Context, nc *nats.Conn, opts Options) error {
	p, wait, err := start(ctx, nc, opts)
	if err != nil {
		return err
	}
	_, err = p.Run()
	feedErr := wait()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil // ctx ended: a normal way to stop
	}
	return errors.Join(err, feedErr)
}

// start builds the program and starts the feed that sends it snapshots.
// wait stops the feed and waits for it; call it after the program ends.
func start(ctx context.Context, nc *nats.Conn, opts Options, extra ...tea.ProgramOption) (*tea.Program, func() error, error) {
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	frame := time.Second / time.Duration(min(max(opts.FrameRate, 1), 30))
	if opts.FrameRate <= 0 {
		frame = 100 * time.Millisecond
	}
	f, err := feed.New(nc, feed.Options{RefreshEvery: opts.RefreshEvery, FrameEvery: frame, RecentSagas: opts.RecentSagas, System: opts.System})
	if err != nil {
		return nil, nil, err
	}
	br, err := feed.NewBrowser(nc)
	if err != nil {
		return nil, nil, err
	}
	r := lipgloss.NewRenderer(out)
	if opts.NoColor || os.Getenv("NO_COLOR") != "" {
		r.SetColorProfile(termenv.Ascii)
	}
	// pctx ends when the program does: the commands in flight (control
	// requests, timers) end with it.
	pctx, stop := context.WithCancel(ctx)
	var ctl controller
	if !opts.ReadOnly {
		ctl = &serialized{c: control.NewClient(nc)}
	}
	// A scenario's events reach the program through p.Send, from the
	// runner's goroutine; runs is waited for once the program has ended,
	// so a cancelled run has restored the load before Run returns.
	var p *tea.Program
	runs := &runGuard{}
	scen := scenarioConfig{target: opts.Scenarios, opt: scenario.Options{Scale: opts.ScenarioScale}, runs: runs,
		send: func(msg tea.Msg) { p.Send(msg) }, room: control.NewClient(nc), name: opts.Name, instructor: !opts.ReadOnly}
	// Every snapshot, telemetry frame and run event goes into the history
	// on its feed's goroutine, before the program has it: a paused
	// dashboard misses nothing.
	var hist *timeline.History
	if opts.History >= 0 {
		hist = timeline.NewHistory(timeline.Options{Keep: opts.History})
	}
	// A recording (--record) takes the same, on the same goroutines.
	var sinks []frameSink
	if hist != nil {
		sinks = append(sinks, hist)
	}
	if opts.Record != nil {
		sinks = append(sinks, opts.Record)
	}
	m := newApp(appConfig{ctx: pctx, title: opts.Title, styles: NewStyles(r), ctl: ctl, burst: opts.BurstSize, scenarios: scen, focus: f.Focus, history: hist, browse: br, focusConsumer: f.FocusConsumer})

	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen(), tea.WithOutput(out), tea.WithFPS(30)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	p = tea.NewProgram(m, append(popts, extra...)...)

	// The status feed, the telemetry feed for the Traces and Logs screens,
	// the scenario runs, and the recording and the live tally where there
	// are: a failure of any is shown, not kept until the user quits.
	feeds := []func() error{
		func() error {
			return f.Run(pctx, func(s feed.Snapshot) { record(sinks, s); p.Send(snapshotMsg{s}) })
		},
		func() error {
			return runTelemetry(pctx, nc, frame, func(s feed.TelemetrySnapshot) { record(sinks, s); p.Send(telemetryMsg{s}) })
		},
		// Scenario runs, whoever started them, for the Scenarios screen.
		func() error {
			return feed.FollowRuns(pctx, nc, func(e contract.RunEvent) { record(sinks, e); p.Send(runEventMsg{e}) })
		},
	}
	if opts.Record != nil {
		feeds = append(feeds, func() error { return opts.Record.Run(pctx) })
	}
	if !opts.ReadOnly {
		// The live tally of a run started headless, which only an
		// instructor may read.
		feeds = append(feeds, func() error {
			return feed.FollowTallies(pctx, nc, func(e contract.RunEvent) { record(sinks, e); p.Send(runEventMsg{e}) })
		})
	}
	done := make(chan error, len(feeds))
	for _, run := range feeds {
		go func() {
			err := run()
			if err != nil {
				p.Send(feedStoppedMsg{err})
			}
			done <- err
		}()
	}
	return p, func() error {
		stop()
		runs.close()
		var errs []error
		for range feeds {
			errs = append(errs, <-done)
		}
		return errors.Join(errs...)
	}, nil
}

// frameSink takes what the feeds send: the dashboard's history
// (timeline.History) and a recording (Recorder).
type frameSink interface {
	AddSnapshot(feed.Snapshot)
	AddTelemetry(feed.TelemetrySnapshot)
	AddRun(contract.RunEvent)
}

// record adds what a feed sends to each sink.
func record(sinks []frameSink, msg any) {
	for _, h := range sinks {
		switch m := msg.(type) {
		case feed.Snapshot:
			h.AddSnapshot(m)
		case feed.TelemetrySnapshot:
			h.AddTelemetry(m)
		case contract.RunEvent:
			h.AddRun(m)
		}
	}
}

// Snapshot reads the system once, as the dashboard would show it, by the
// same path (through sys, a system-account connection, when not nil): for
// `sagascope status --json`. It watches for at least watch first (0 for
// just long enough to read everything), so the diagnoses, which need a
// condition held for a window, can be found. The result encodes as JSON;
// its Gathering says which path it used.
func Snapshot(ctx context.Context, nc, sys *nats.Conn, watch time.Duration) (feed.Snapshot, error) {
	return feed.CollectFor(ctx, nc, feed.Options{RefreshEvery: 500 * time.Millisecond, System: sys}, watch)
}
