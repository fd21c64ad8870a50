package bench_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/bench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAtTinyScale proves the machinery end to end in a few seconds: every
// phase runs and reports; the figures are too short-lived to judge, so
// nothing about their size is asserted.
func TestRunAtTinyScale(t *testing.T) {
	var out bytes.Buffer
	res, err := bench.Run(t.Context(), bench.Options{
		DataDir:       t.TempDir(),
		Workers:       4,
		Backlog:       50,
		Warmup:        100 * time.Millisecond,
		Window:        300 * time.Millisecond,
		LatencyRate:   50,
		LatencyWindow: 300 * time.Millisecond,
	}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Relay) != 2 || res.Reference().Done == 0 || res.Reference().Writes == 0 {
		t.Errorf("relay reference measured nothing: %+v", res.Relay)
	}
	if s := res.Saturation; s.Done == 0 || s.Sagas == 0 || s.WritesPerSaga() == 0 || s.Cancelled != 0 {
		t.Errorf("saturation measured nothing or cancelled sagas: %+v", s)
	}
	if len(res.Latency) != 2 {
		t.Fatalf("want 2 latency lines, got %+v", res.Latency)
	}
	for _, l := range res.Latency {
		if l.Sagas == 0 || l.Max < l.P99 || l.P99 < l.P50 {
			t.Errorf("latency %s is incoherent: %+v", l.Label(), l)
		}
	}
	for _, want := range []string{"reference  jetstream 4-hop relay", "saga       saturation", "latency    50 sagas/s (no sim latency)", "latency    50 sagas/s (demo latencies)", "targets"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// Flags of the benchmark, after the package on the go test command line
// (or after -args): -phases to run only some measurements, -window to
// measure longer.
var (
	phases = flag.String("phases", "all", "measurements to make: relay, saturation, latency, demo-latency, all (comma-separated)")
	window = flag.Duration("window", 0, "length of the throughput windows (0: the default, 10s)")
)

// BenchmarkSaga is the benchmark: one complete run per iteration, on a
// server of its own, printing its report (about 80 s; run it with
// -benchtime=1x, and -count=2 for two runs). The metrics are the means over
// iterations. To profile the saga at saturation alone:
//
//	go test -run '^$' -bench . -benchtime=1x -cpuprofile cpu.out ./demo/bench -phases=saturation -window=20s
func BenchmarkSaga(b *testing.B) {
	p, err := bench.ParsePhases(*phases)
	if err != nil {
		b.Fatal(err)
	}
	o := bench.Options{Phases: p, Window: *window}
	var sagas, writes, ratio, chains, p99 float64
	n := 0
	for b.Loop() {
		// Straight to stdout: the benchmark log is cut to ten lines.
		res, err := bench.Run(b.Context(), o, os.Stdout)
		if err != nil {
			b.Fatal(err)
		}
		n++
		sagas += res.Saturation.PerSec()
		writes += res.Saturation.WritesPerSaga()
		ratio += res.Ratio()
		chains += res.Reference().PerSec()
		for _, l := range res.Latency {
			if !l.Simulated {
				p99 += float64(l.P99) / float64(time.Millisecond)
			}
		}
	}
	// A run's wall time says nothing; the figures are rates.
	b.ReportMetric(0, "ns/op")
	for unit, sum := range map[string]float64{"sagas/s": sagas, "writes/saga": writes, "ratio": ratio, "relay-chains/s": chains, "p99-ms": p99} {
		if sum > 0 {
			b.ReportMetric(sum/float64(n), unit)
		}
	}
}
