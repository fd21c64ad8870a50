package bench_test

import (
	"math"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/bench"
)

// window is a saturation window of done sagas in 10 s, using cpu.
func window(done uint64, cpu time.Duration) bench.Saturation {
	return bench.Saturation{Throughput: bench.Throughput{Done: done, Writes: 17 * done, Elapsed: 10 * time.Second, CPU: cpu}}
}

func TestResultComparesKindsMeasuredInTheSameRun(t *testing.T) {
	r := bench.Result{
		Relay:     []bench.Throughput{{Done: 140_000, Writes: 700_000, Elapsed: 10 * time.Second}, {Done: 160_000, Writes: 800_000, Elapsed: 10 * time.Second}},
		Saga:      []bench.Saturation{window(18_000, 18*time.Second), window(22_000, 22*time.Second)},
		Traced:    []bench.Saturation{window(16_000, 20*time.Second), window(16_000, 20*time.Second)},
		Dashboard: []bench.Dashboard{{Saturation: window(19_600, 20*time.Second), Frames: 100}},
		Latency:   []bench.Latency{{Rate: 200, Sagas: 2000, P50: 3 * time.Millisecond, P99: 12 * time.Millisecond}},
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("saga sagas/s", r.SagaPooled().PerSec(), 2000)
	near("ratio", r.Ratio(), 34_000.0/75_000)
	tracing, ok := r.TracingCost()
	if !ok {
		t.Fatal("tracing cost not measured")
	}
	near("tracing throughput cost", tracing.Throughput, 0.2)
	near("tracing CPU cost", tracing.CPU, 0.25)
	dash, _ := r.DashboardCost()
	near("dashboard throughput cost", dash.Throughput, 0.02)
	near("noise", r.Noise(), 0.1)

	want := map[string]bool{"≥ 3000 sagas/s": false, "floor 2000 sagas/s": true, "ratio ≥ 0.6": false, "p99 < 10 ms at 200/s": false, "tracing < 10%": false, "dashboard < 5%": true}
	got := r.Targets()
	if len(got) != len(want) {
		t.Fatalf("targets %+v, want %v", got, want)
	}
	for _, tg := range got {
		if met, ok := want[tg.Name]; !ok || met != tg.Met {
			t.Errorf("target %q met %v, want %v (known %v)", tg.Name, tg.Met, met, ok)
		}
		if tg.Name == "dashboard < 5%" && !tg.Unresolved {
			t.Errorf("a 2%% cost within 10%% noise is reported resolved")
		}
	}
}
