package feed_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/loadgen"
	"github.com/sagascope/sagascope/demo/system"
)

// attachDashboards is BenchmarkAttachDemo's flag, after the package on the
// go test line.
var attachDashboards = flag.Int("dashboards", 30, "BenchmarkAttachDemo: dashboards attached at once, beside a run with 8")

// earlierDashboards is the count the issue "Attach to a large JetStream
// system without loading it" measured first (98 API requests/s, 3 % of a
// core), attached in the same run to compare with.
const earlierDashboards = 8

// The demo as `sagascope demo` runs it: 20 orders a second; a few seconds
// after every instance consumes for the load generator's and the
// sweeper's start-up writes to land, and the sagas under way to reach a
// steady rate; a bound on how long the services and the dashboards take to
// show.
const (
	demoRate    = 20
	demoSettle  = 3 * time.Second
	demoTimeout = time.Minute
)

// BenchmarkAttachDemo measures what dashboards attached to the sagascope
// demo cost its server: a separate nats-server process (as BenchmarkAttach
// starts it), the demo running against it in this process as `sagascope
// demo` composes it (system.Start: every service with default workers and
// simulated dependencies, the load generator at 20 orders/s, no
// telemetry), and over a -window (default 60s) each: the server's CPU and
// JetStream API requests per second (the server's /jsz counter) with no
// dashboard, before and after; with -dashboards (default 30) attached at
// once; with 8. Each dashboard is what the dashboard's process runs, on a
// connection of its own: the feed and the telemetry feed, default options.
// Each window with dashboards starts once every one's snapshot shows every
// service (or after a minute: the table says how many did).
// It prints the server's CPU above the no-dashboard reference and the API
// requests, each in total and per dashboard, this process's CPU (the
// services' and the load generator's too: the reference says how much),
// and the ratios of the two counts.
//
// It measures once, whatever b.N: run it with -benchtime 1x.
//
//	go test -run '^$' -bench AttachDemo -benchtime 1x ./tui/feed -window 20s   # about 90 seconds
//
// Timings are figures, never asserted: TestTheDemoAttachBenchmarkMeasuresTwoDashboards
// checks the machinery.
func BenchmarkAttachDemo(b *testing.B) {
	if *attachDashboards < 1 || *attachWindow <= 0 {
		b.Fatalf("-dashboards %d, -window %v: want at least one dashboard and a window", *attachDashboards, *attachWindow)
	}
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	rig := newDemoRig(b, logf)
	b.ResetTimer()
	run := rig.run(b, []int{*attachDashboards, earlierDashboards}, *attachWindow)
	b.StopTimer()
	run.report(os.Stdout)
	for _, r := range run.results {
		unit := fmt.Sprintf("%d-dashboards:", r.dashboards)
		b.ReportMetric(r.serverCPU(run), unit+"server-%core")
		b.ReportMetric(r.apiRate(run), unit+"api-req/s")
		b.ReportMetric(r.load.process-run.reference().process, unit+"process-%core")
	}
}

// demoRig is the separate server and the demo running against it in this
// process.
type demoRig struct {
	srv     *serverProcess
	started time.Duration // from Start until every instance consumes
	logf    func(format string, args ...any)
}

// newDemoRig starts the server and the demo on it, and returns once every
// service consumes and the demo settled. The demo is closed when tb ends,
// before the server is killed.
func newDemoRig(tb testing.TB, logf func(string, ...any)) *demoRig {
	tb.Helper()
	srv := startServer(tb)
	discard := slog.New(slog.DiscardHandler)
	cfg := system.Config{
		Connect: func(_ context.Context, name string) (*nats.Conn, error) {
			return nats.Connect(srv.clientURL, nats.Name(name), nats.UserInfo(appUser, appPassword), nats.MaxReconnects(-1))
		},
		Load: &loadgen.Config{Rate: demoRate, Log: discard},
		Log:  discard,
	}
	system.DefaultDependencies(&cfg)
	logf("nats-server %s (pid %d, %s): starting the demo at %d orders/s", srv.version, srv.pid, srv.clientURL, demoRate)
	start := time.Now()
	// Not tb.Context(): that ends before the cleanups, and Close stops
	// the services in order.
	sys, err := system.Start(context.Background(), system.Options{Services: cfg})
	if err != nil {
		tb.Fatalf("start the demo: %v", err)
	}
	tb.Cleanup(func() {
		if err := sys.Close(); err != nil {
			tb.Errorf("the demo: %v", err)
		}
	})
	for !sys.Services().Ready() {
		if time.Since(start) > demoTimeout {
			tb.Fatalf("the demo's instances do not consume after %v", demoTimeout)
		}
		pause(tb.Context(), 20*time.Millisecond)
	}
	r := &demoRig{srv: srv, started: time.Since(start), logf: logf}
	logf("every instance consumes after %v; settling %v", r.started.Round(time.Millisecond), demoSettle)
	pause(tb.Context(), demoSettle)
	return r
}

// demoLoad is what one window measured.
type demoLoad struct {
	server serverLoad
	// process is this process's CPU, per cent of one core: the services',
	// the load generator's and the dashboards'.
	process float64
}

// demoRun is what one run measured: the demo with no dashboard before and
// after, and each count of dashboards attached.
type demoRun struct {
	rig     *demoRig
	window  time.Duration
	without []demoLoad
	results []demoResult
}

// demoResult is a count of dashboards attached for one window.
type demoResult struct {
	dashboards int
	load       demoLoad
	// showing counts from attach until every dashboard's snapshot showed
	// every service; showed counts the dashboards whose last snapshot
	// did, and completed is the fewest completed sagas a dashboard showed.
	showing   latency
	showed    int
	completed uint64
	// frames and telemetryFrames are the snapshots sent, all dashboards
	// together.
	frames, telemetryFrames int
}

// run measures the demo with no dashboard, then with each count of
// dashboards attached at once, then with none again.
func (r *demoRig) run(tb testing.TB, counts []int, window time.Duration) demoRun {
	tb.Helper()
	run := demoRun{rig: r, window: window}
	r.logf("no dashboard for %v", window)
	run.without = append(run.without, r.measure(tb, window))
	for _, n := range counts {
		r.logf("%d dashboards for %v", n, window)
		run.results = append(run.results, r.attach(tb, n, window))
	}
	r.logf("no dashboard for %v", window)
	run.without = append(run.without, r.measure(tb, window))
	return run
}

// measure is the server's and this process's load over window.
func (r *demoRig) measure(tb testing.TB, window time.Duration) demoLoad {
	tb.Helper()
	server0, cpu0 := r.srv.mustSample(tb), selfCPU(tb)
	pause(tb.Context(), window)
	server1, cpu1 := r.srv.mustSample(tb), selfCPU(tb)
	return demoLoad{server: server0.until(server1), process: share(cpu1-cpu0, server1.at.Sub(server0.at))}
}

// attach attaches n dashboards at once, waits until each shows every
// service, measures a window and detaches them.
func (r *demoRig) attach(tb testing.TB, n int, window time.Duration) demoResult {
	tb.Helper()
	ds := attachDashboardFeeds(tb, r.srv, n)
	start := time.Now()
	res := demoResult{dashboards: n}
	if ds.awaitShowing(tb.Context(), demoTimeout) {
		res.showing = latency{took: time.Since(start), seen: true}
	}
	res.load = r.measure(tb, window)
	ds.detach(tb)
	res.showed, res.completed = ds.showed()
	res.frames, res.telemetryFrames = ds.frameCounts()
	return res
}

// reference is the demo with no dashboard: the mean of the windows before
// and after.
func (run demoRun) reference() demoLoad {
	var ref demoLoad
	for _, l := range run.without {
		ref.server.CPU += l.server.CPU / float64(len(run.without))
		ref.server.APIRate += l.server.APIRate / float64(len(run.without))
		ref.process += l.process / float64(len(run.without))
	}
	return ref
}

// serverCPU is the server's CPU above the reference, per cent of a core.
func (r demoResult) serverCPU(run demoRun) float64 {
	return r.load.server.CPU - run.reference().server.CPU
}

// apiRate is the API requests per second above the reference.
func (r demoResult) apiRate(run demoRun) float64 {
	return r.load.server.APIRate - run.reference().server.APIRate
}

// report writes the run as a table, one line a count of dashboards, and
// the first count's ratios to the others.
func (run demoRun) report(w io.Writer) {
	srv := run.rig.srv
	fmt.Fprintf(w, "\nattach demo: sagascope demo at %d orders/s (default workers and dependencies, no telemetry) on nats-server %s (a separate process); instances consumed after %v; %v windows\n",
		demoRate, srv.version, run.rig.started.Round(time.Millisecond), run.window)
	var cpu, api, process []string
	for _, l := range run.without {
		cpu = append(cpu, fmt.Sprintf("%.1f %%", l.server.CPU))
		api = append(api, fmt.Sprintf("%.1f", l.server.APIRate))
		process = append(process, fmt.Sprintf("%.1f %%", l.process))
	}
	fmt.Fprintf(w, "no dashboard (before, after): server %s of a core, %s API requests/s; this process (the services and the load generator) %s of a core\n\n",
		strings.Join(cpu, ", "), strings.Join(api, ", "), strings.Join(process, ", "))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dashboards\tserver CPU above none\tper dashboard\tAPI requests/s\tabove none\tper dashboard\tAPI errors\tthis process above none\tall showing\tshowed\tframes, telemetry")
	for _, r := range run.results {
		n := float64(r.dashboards)
		fmt.Fprintf(tw, "%d\t%.1f %% of a core\t%.2f %%\t%.1f\t%.1f\t%.1f\t%d\t%.1f %%\t%v\t%d\t%d, %d\n",
			r.dashboards, r.serverCPU(run), r.serverCPU(run)/n, r.load.server.APIRate, r.apiRate(run), r.apiRate(run)/n,
			r.load.server.APIErrors, r.load.process-run.reference().process, r.showing, r.showed, r.frames, r.telemetryFrames)
	}
	_ = tw.Flush()
	if len(run.results) < 2 {
		return
	}
	first := run.results[0]
	fmt.Fprintln(w)
	for _, r := range run.results[1:] {
		fmt.Fprintf(w, "%d dashboards to %d: %s, %s, %s\n", first.dashboards, r.dashboards,
			ratio("server CPU above none", first.serverCPU(run), r.serverCPU(run)),
			ratio("API requests above none", first.apiRate(run), r.apiRate(run)),
			ratio("this process above none", first.load.process-run.reference().process, r.load.process-run.reference().process))
	}
}
