package bench

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Targets from the issue that asked for this benchmark.
const (
	TargetSagasPerSec = 2000                  // at saturation, without simulated latency
	TargetRatio       = 0.6                   // saga writes/s ÷ relay writes/s
	TargetP99         = 20 * time.Millisecond // at 200 sagas/s, without simulated latency
)

// Throughput is work finished over a measurement window.
type Throughput struct {
	// Done is the chains (relay) or completed sagas finished in the window.
	Done uint64
	// Writes is every message the server stored in the window.
	Writes  uint64
	Elapsed time.Duration
	// CPU is what the whole process (server, clients, bench) used in the
	// window; 0 where it cannot be read. Other processes on the machine
	// slow the rates down but hardly change the CPU per unit, so CPU per
	// write compares runs on a busy machine better than rates do.
	CPU time.Duration
	// OthersCPU is what every other process on the machine used in the
	// window (Linux only; 0 elsewhere).
	OthersCPU time.Duration
}

// CPUPerWrite is the process CPU per message stored.
func (t Throughput) CPUPerWrite() time.Duration {
	if t.Writes == 0 {
		return 0
	}
	return t.CPU / time.Duration(t.Writes)
}

// CPUPerDone is the process CPU per chain or saga.
func (t Throughput) CPUPerDone() time.Duration {
	if t.Done == 0 {
		return 0
	}
	return t.CPU / time.Duration(t.Done)
}

// CPUs is how many CPUs the process kept busy on average: below the
// machine's count, either something waits or other processes compete.
func (t Throughput) CPUs() float64 { return cpus(t.CPU, t.Elapsed) }

// OtherCPUs is how many CPUs other processes kept busy on average.
func (t Throughput) OtherCPUs() float64 { return cpus(t.OthersCPU, t.Elapsed) }

func cpus(cpu, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return cpu.Seconds() / elapsed.Seconds()
}

// PerSec is Done per second.
func (t Throughput) PerSec() float64 { return perSec(t.Done, t.Elapsed) }

// WritesPerSec is Writes per second.
func (t Throughput) WritesPerSec() float64 { return perSec(t.Writes, t.Elapsed) }

func perSec(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Saturation is the saga at saturation.
type Saturation struct {
	// Throughput is over the window: Done counts completed sagas.
	Throughput
	// Cancelled is sagas cancelled or parked in the window; without faults
	// it should be 0.
	Cancelled uint64
	// Queued is saga messages stored and not yet delivered at the end of
	// the window; above 0 it shows no stage ran dry.
	Queued uint64
	// Sagas and PhaseWrites are every saga finished and every message
	// stored from idle before the phase to idle after it, so no saga is
	// cut in two; ByStream splits PhaseWrites by stream.
	Sagas       uint64
	PhaseWrites uint64
	ByStream    map[string]uint64
}

// WritesPerSaga is the exact JetStream writes per finished saga.
func (s Saturation) WritesPerSaga() float64 {
	if s.Sagas == 0 {
		return 0
	}
	return float64(s.PhaseWrites) / float64(s.Sagas)
}

// Latency is end-to-end saga latency at a fixed rate.
type Latency struct {
	// Simulated is true with the demo's simulated dependency latencies,
	// false without them.
	Simulated bool
	Rate      float64
	// Window is how long sagas were sampled; Sagas completed of those
	// placed in it, Cancelled did not, Incomplete had not finished when
	// the run stopped waiting.
	Window                       time.Duration
	Sagas, Cancelled, Incomplete int
	P50, P99, Max                time.Duration
}

// Label names the latency's conditions.
func (l Latency) Label() string {
	if l.Simulated {
		return "demo latencies"
	}
	return "no sim latency"
}

// Result is what a run measured. Fields of phases not run are zero.
type Result struct {
	Options Options
	// Relay is each reference measurement, in the order made.
	Relay      []Throughput
	Saturation Saturation
	Latency    []Latency
}

// Reference pools the relay measurements into one.
func (r Result) Reference() Throughput {
	var t Throughput
	for _, m := range r.Relay {
		t.Done, t.Writes, t.Elapsed = t.Done+m.Done, t.Writes+m.Writes, t.Elapsed+m.Elapsed
		t.CPU, t.OthersCPU = t.CPU+m.CPU, t.OthersCPU+m.OthersCPU
	}
	return t
}

// Ratio is the saga's writes per second at saturation over the reference's;
// 0 when either was not measured.
func (r Result) Ratio() float64 {
	ref := r.Reference().WritesPerSec()
	if ref == 0 {
		return 0
	}
	return r.Saturation.WritesPerSec() / ref
}

// CPURatio is the reference's CPU per write over the saga's: the ratio
// that other processes competing for the CPUs hardly move. 0 when either
// was not measured.
func (r Result) CPURatio() float64 {
	saga := r.Saturation.CPUPerWrite()
	if saga == 0 {
		return 0
	}
	return float64(r.Reference().CPUPerWrite()) / float64(saga)
}

// Target is one of the targets and whether the run met it.
type Target struct {
	Name     string
	Measured string
	Met      bool
}

// Targets judges the run against the targets it measured.
func (r Result) Targets() []Target {
	var out []Target
	if r.Saturation.Elapsed > 0 {
		v := r.Saturation.PerSec()
		out = append(out, Target{fmt.Sprintf("≥ %d sagas/s", TargetSagasPerSec), fmt.Sprintf("%.0f", v), v >= TargetSagasPerSec})
		if len(r.Relay) > 0 {
			out = append(out, Target{fmt.Sprintf("ratio ≥ %.1f", TargetRatio), fmt.Sprintf("%.2f", r.Ratio()), r.Ratio() >= TargetRatio})
		}
	}
	for _, l := range r.Latency {
		if !l.Simulated && l.Sagas > 0 {
			out = append(out, Target{fmt.Sprintf("p99 < %s at %g/s", ms(TargetP99), l.Rate), ms(l.P99), l.P99 < TargetP99 && l.Incomplete == 0})
		}
	}
	return out
}

// Report prints the result as a compact table with the method in brief.
func (r Result) Report(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "server     nats-server %s embedded, file store, clients over TCP loopback; %d CPUs, %s\n",
		server.VERSION, runtime.NumCPU(), runtime.Version())
	if len(r.Relay) > 0 {
		ref := r.Reference()
		var runs []string
		for _, m := range r.Relay {
			runs = append(runs, fmt.Sprintf("%.0f", m.PerSec()))
		}
		fmt.Fprintf(w, "reference  jetstream %d-hop relay         %6.0f chains/s  %6.0f writes/s   (runs %s chains/s; %d workers/hop)\n",
			relayHops, ref.PerSec(), ref.WritesPerSec(), strings.Join(runs, ", "), o.Workers)
	}
	if s := r.Saturation; s.Elapsed > 0 {
		fmt.Fprintf(w, "saga       saturation (no sim latency)  %6.0f sagas/s   %5.1f writes/saga  %6.0f writes/s",
			s.PerSec(), s.WritesPerSaga(), s.WritesPerSec())
		if len(r.Relay) > 0 {
			fmt.Fprintf(w, "   ratio %.2f (aim ≥ %.1f)", r.Ratio(), TargetRatio)
		}
		fmt.Fprintln(w)
		if s.Cancelled > 0 {
			fmt.Fprintf(w, "           %d sagas cancelled in the window: the figures above are not clean\n", s.Cancelled)
		}
	}
	for _, l := range r.Latency {
		line := fmt.Sprintf("latency    %g sagas/s (%s)", l.Rate, l.Label())
		fmt.Fprintf(w, "%-41sp50 %s  p99 %s  max %s   (%d sagas", line, ms(l.P50), ms(l.P99), ms(l.Max), l.Sagas)
		if l.Cancelled > 0 {
			fmt.Fprintf(w, ", %d cancelled", l.Cancelled)
		}
		if l.Incomplete > 0 {
			fmt.Fprintf(w, ", %d unfinished", l.Incomplete)
		}
		fmt.Fprint(w, ")")
		if !l.Simulated {
			fmt.Fprintf(w, " (aim p99 < %s)", ms(TargetP99))
		}
		fmt.Fprintln(w)
	}
	r.cpu(w)
	if ts := r.Targets(); len(ts) > 0 {
		var parts []string
		for _, t := range ts {
			verdict := "met"
			if !t.Met {
				verdict = "NOT MET"
			}
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", t.Name, verdict, t.Measured))
		}
		fmt.Fprintf(w, "targets    %s\n", strings.Join(parts, " · "))
	}
	r.notes(w)
}

// busyOthers is the CPU other processes may take from a measurement
// before the report warns about it.
const busyOthers = 0.25

// cpu reports the CPU the process used per unit of work, when known.
func (r Result) cpu(w io.Writer) {
	busy := func(t Throughput) string {
		s := fmt.Sprintf("%.2f CPUs", t.CPUs())
		if t.OthersCPU > 0 {
			s += fmt.Sprintf(", others %.2f", t.OtherCPUs())
		}
		return s
	}
	var parts []string
	if ref := r.Reference(); ref.CPU > 0 {
		parts = append(parts, fmt.Sprintf("relay %s/write (%s)", us(ref.CPUPerWrite()), busy(ref)))
	}
	if s := r.Saturation; s.CPU > 0 {
		parts = append(parts, fmt.Sprintf("saga %s/write, %s/saga (%s)", us(s.CPUPerWrite()), us(s.CPUPerDone()), busy(s.Throughput)))
	}
	if len(parts) == 2 {
		parts = append(parts, fmt.Sprintf("ratio %.2f", r.CPURatio()))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "cpu        %s  (process CPU; %d CPUs)\n", strings.Join(parts, " · "), runtime.NumCPU())
	}
	if others := max(r.Reference().OtherCPUs(), r.Saturation.OtherCPUs()); others >= busyOthers {
		fmt.Fprintf(w, "warning    other processes kept %.2f CPUs busy while measuring: rates are low and noisy, ratios less so\n", others)
	}
}

// notes says how each figure was measured, so the table can be trusted
// without reading the code.
func (r Result) notes(w io.Writer) {
	o := r.Options
	if s := r.Saturation; s.Sagas > 0 {
		names := slices.SortedFunc(maps.Keys(s.ByStream), func(a, b string) int {
			return cmp.Or(cmp.Compare(s.ByStream[b], s.ByStream[a]), cmp.Compare(a, b))
		})
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, float64(s.ByStream[n])/float64(s.Sagas)))
		}
		fmt.Fprintf(w, "writes     per saga by stream: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "how        writes: every message stored, from the growth of every stream's last sequence (KV buckets included)\n")
	if len(r.Relay) > 0 {
		fmt.Fprintf(w, "           reference: hop i pulls subject i, publishes to i+1 awaiting the PubAck, acks; saga stream and consumer config; pooled over the runs bracketing the saga\n")
	}
	if r.Saturation.Elapsed > 0 {
		fmt.Fprintf(w, "           saturation: %d orders queued, one placed per saga finished; %s window after %s warm-up; %d still queued at its end; writes/saga over the phase idle to idle (%d sagas)\n",
			o.Backlog, r.Saturation.Elapsed.Round(time.Millisecond), o.Warmup, r.Saturation.Queued, r.Saturation.Sagas)
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(w, "           latency: load generator at the rate; final event received − place envelope time, every saga placed in a %s window\n", o.LatencyWindow)
	}
	fmt.Fprintf(w, "           no sim latency: gateway and carrier 0, inventory query %s (the sim reads 0 as 1 ms) on %d conns; demo latencies: system.DefaultDependencies\n",
		noSimulatedQuery, o.Workers)
}

// us formats d in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// ms formats d in milliseconds, with a decimal below 100 ms.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 100 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " ms"
	}
	return fmt.Sprintf("%.0f ms", v)
}
