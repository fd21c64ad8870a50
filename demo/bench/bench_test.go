package bench_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/bench"
	"github.com/sagascope/sagascope/demo/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAtTinyScale proves the machinery end to end in a few seconds: every
// phase runs, produces figures and reports them, and writes per saga match
// the saga's design. The rates are too short-lived to judge, so nothing
// about their size is asserted.
func TestRunAtTinyScale(t *testing.T) {
	var out bytes.Buffer
	res, err := bench.Run(t.Context(), bench.Options{
		DataDir:       t.TempDir(),
		Workers:       4,
		Backlog:       50,
		Warmup:        500 * time.Millisecond,
		Window:        600 * time.Millisecond,
		LatencyRate:   50,
		LatencyWindow: 300 * time.Millisecond,
		Dashboard:     followStatus,
	}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}

	if len(res.Relay) != 2 {
		t.Errorf("want the relay before and after the saga, got %d runs", len(res.Relay))
	}
	if len(res.BestRelay) != 2 {
		t.Errorf("want the broker's best relay before and after the saga, got %d runs", len(res.BestRelay))
	}
	for _, r := range res.BestRelay {
		if r.Done == 0 || r.Writes == 0 || r.Msgs == 0 || r.Elapsed <= 0 {
			t.Errorf("a best relay run measured nothing: %+v", r)
		}
	}
	if !strings.Contains(out.String(), "broker's best") || !strings.Contains(out.String(), "best relay writes/s") {
		t.Errorf("the report does not show the best relay and its ratio:\n%s", out.String())
	}
	for _, r := range res.Relay {
		if r.Done == 0 || r.Writes == 0 || r.Msgs == 0 || r.Elapsed <= 0 {
			t.Errorf("a relay run measured nothing: %+v", r)
		}
	}
	windows := []struct {
		kind string
		got  []bench.Saturation
		want int
	}{
		{"tracing off", res.Saga, 2},
		{"tracing on", res.Traced, 2},
		{"dashboard attached", dashboardWindows(res), 1},
	}
	for _, w := range windows {
		if len(w.got) != w.want {
			t.Errorf("%s: want %d windows, got %d", w.kind, w.want, len(w.got))
		}
		// Every window finishes at least its backlog from idle to idle; on
		// a loaded machine a short window alone may finish none, so rates
		// are checked over the kind's windows together.
		for _, s := range w.got {
			if s.Sagas < 50 || s.Writes == 0 || s.Msgs == 0 || s.Cancelled != 0 {
				t.Errorf("%s: a window measured nothing or cancelled sagas: %+v", w.kind, s)
			}
		}
		if p := pool(w.got); p.Done == 0 || p.CPU == 0 {
			t.Errorf("%s: no saga completed in the windows: %+v", w.kind, p)
		}
	}
	// Every saga stores exactly its design's writes; the bench's own few
	// API requests add advisories, well under one per saga even here.
	for _, s := range res.Saga {
		if w := s.WritesPerSaga(); w < bench.DesignWrites || w >= bench.DesignWrites+1 {
			t.Errorf("tracing off: %.2f writes per saga, want %d (+ under 1 of advisories): %v", w, bench.DesignWrites, s.ByStream)
		}
		if n := s.ByStream[contract.StreamName(contract.Orders)]; n != 2*s.Sagas {
			t.Errorf("tracing off: %d orders messages for %d sagas, want a place-order and a completed each", n, s.Sagas)
		}
	}
	for _, s := range res.Traced {
		if s.ByStream[contract.TelemetryStream] == 0 {
			t.Errorf("tracing on: no span batch stored: %v", s.ByStream)
		}
	}
	for _, d := range res.Dashboard {
		if d.Frames == 0 {
			t.Errorf("dashboard attached: the feed produced no snapshot")
		}
	}
	if _, ok := res.TracingCost(); !ok {
		t.Error("tracing cost not measured")
	}
	if _, ok := res.DashboardCost(); !ok {
		t.Error("dashboard cost not measured")
	}
	if res.Ratio() <= 0 || res.CPURatio() < 0 {
		t.Errorf("ratio %.2f, CPU ratio %.2f", res.Ratio(), res.CPURatio())
	}

	if len(res.Latency) != 2 {
		t.Fatalf("want 2 latency lines, got %+v", res.Latency)
	}
	for _, l := range res.Latency {
		if l.Sagas == 0 || l.Incomplete != 0 || l.P50 <= 0 || l.Max < l.P99 || l.P99 < l.P50 {
			t.Errorf("latency %s is incoherent: %+v", l.Label(), l)
		}
	}
	for _, want := range []string{
		"relay, jetstream 4 hops", "saga, tracing off", "saga, tracing on", "saga, dashboard attached",
		"ratio      saga writes/s ÷ relay writes/s", "tracing    every saga traced costs", "dashboard  attached, it costs",
		"latency    50 sagas/s, no sim latency", "latency    50 sagas/s, demo as shipped", "targets", "writes     per saga",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// followStatus stands in for the dashboard's feed, which a demo package
// may not import (main hands the real one in, and main's tests run it): a
// Watcher that makes a frame of every status message, as the feed's
// snapshots follow them.
func followStatus(ctx context.Context, nc *nats.Conn, frame func(float64)) error {
	sub, err := nc.Subscribe(contract.StatusSubjects, func(*nats.Msg) { frame(0) })
	if err != nil {
		return err
	}
	<-ctx.Done()
	return sub.Unsubscribe()
}

// pool adds windows up.
func pool(ss []bench.Saturation) (p bench.Throughput) {
	for _, s := range ss {
		p.Done += s.Done
		p.CPU += s.CPU
	}
	return p
}

func dashboardWindows(res bench.Result) []bench.Saturation {
	var ss []bench.Saturation
	for _, d := range res.Dashboard {
		ss = append(ss, d.Saturation)
	}
	return ss
}

func TestParsePhases(t *testing.T) {
	tests := []struct {
		list    string
		want    bench.Phase
		wantErr bool
	}{
		{"", bench.AllPhases, false},
		{"all", bench.AllPhases, false},
		{"saturation", bench.PhaseSaturation, false},
		{"relay, dashboard", bench.PhaseRelay | bench.PhaseDashboard, false},
		{"tracing,latency,demo-latency", bench.PhaseTracing | bench.PhaseLatency | bench.PhaseDemoLatency, false},
		{"saturaton", 0, true},
	}
	for _, tt := range tests {
		got, err := bench.ParsePhases(tt.list)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePhases(%q) = %v, %v; want %v, error %v", tt.list, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != "" {
			if again, _ := bench.ParsePhases(got.String()); again != got {
				t.Errorf("ParsePhases(%q.String()) = %v, want %v", tt.list, again, got)
			}
		}
	}
}

func TestOptionsFromFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    bench.Options
		wantErr string
	}{
		{"no flags are the full benchmark's defaults", nil,
			bench.Options{Window: 10 * time.Second, Warmup: 3 * time.Second, Backlog: 2000, Workers: 32, LatencyRate: 200, LatencyWindow: 10 * time.Second}, ""},
		{"flags set every option",
			[]string{"--phases", "relay,saturation", "--window", "20s", "--warmup", "1s", "--backlog", "500", "--workers", "8", "--rate", "50", "--latency-window", "5s", "--data", "/tmp/x"},
			bench.Options{Phases: bench.PhaseRelay | bench.PhaseSaturation, Window: 20 * time.Second, Warmup: time.Second, Backlog: 500, Workers: 8, LatencyRate: 50, LatencyWindow: 5 * time.Second, DataDir: "/tmp/x"}, ""},
		{"an unknown phase is refused", []string{"--phases", "everything"}, bench.Options{}, "unknown phase"},
		{"a negative window is refused", []string{"--window", "-1s"}, bench.Options{}, "must not be negative"},
		{"too many workers are refused", []string{"--workers", "5000"}, bench.Options{}, "--workers 5000"},
		{"a rate above the load generator's is refused", []string{"--rate", "1e6"}, bench.Options{}, "--rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o bench.Options
			fs := flag.NewFlagSet("bench", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.Register(fs)
			err := fs.Parse(tt.args)
			if err == nil {
				err = o.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o, tt.want) {
				t.Errorf("got %+v, want %+v", o, tt.want)
			}
		})
	}
}

// options are the benchmark's, from the same flags as `sagascope bench`,
// given after the package on the go test command line: -phases to run only
// some measurements, -window to measure longer, and so on.
var options bench.Options

func init() { options.Register(flag.CommandLine) }

// BenchmarkSaga is the benchmark: one complete run per iteration, on a
// server of its own, printing its report (about two and a half minutes; run
// it with -benchtime=1x, and -count=2 for two runs). The metrics are the
// means over iterations. It leaves the dashboard phase out: a demo package
// cannot link the dashboard, so that phase runs from `sagascope bench`,
// which hands the dashboard's feed in. To profile the saga at saturation
// alone:
//
//	go test -run '^$' -bench . -benchtime=1x -cpuprofile cpu.out ./demo/bench -phases=saturation -window=20s
func BenchmarkSaga(b *testing.B) {
	o := options
	if o.Phases == 0 {
		o.Phases = bench.AllPhases &^ bench.PhaseDashboard
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	metrics := map[string]float64{}
	n := 0
	for b.Loop() {
		// Straight to stdout: the benchmark log is cut to ten lines.
		res, err := bench.Run(b.Context(), o, os.Stdout)
		if err != nil {
			b.Fatal(err)
		}
		n++
		metrics["sagas/s"] += res.SagaPooled().PerSec()
		metrics["writes/saga"] += res.SagaPooled().WritesPerSaga()
		metrics["ratio"] += res.Ratio()
		metrics["relay-chains/s"] += res.Reference().PerSec()
		if c, ok := res.TracingCost(); ok {
			metrics["tracing-cost-%"] += 100 * c.Throughput
		}
		if c, ok := res.DashboardCost(); ok {
			metrics["dashboard-cost-%"] += 100 * c.Throughput
		}
		for _, l := range res.Latency {
			if !l.Simulated {
				metrics["p99-ms"] += float64(l.P99) / float64(time.Millisecond)
			}
		}
	}
	// A run's wall time says nothing; the figures are rates.
	b.ReportMetric(0, "ns/op")
	for unit, sum := range metrics {
		if sum != 0 {
			b.ReportMetric(sum/float64(n), unit)
		}
	}
}
