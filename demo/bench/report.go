package bench

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// busyOthers is the CPU other processes may take from a measurement
// before the report warns about it.
const busyOthers = 0.25

// Report prints the result: a table of the throughput windows, the
// comparisons made in the same run, latency, the targets, and the method in
// brief, so the figures can be trusted without reading the code.
func (r Result) Report(w io.Writer) {
	fmt.Fprintf(w, "machine    %d CPUs, %s, nats-server %s embedded (file store, clients over TCP loopback)", runtime.NumCPU(), runtime.Version(), server.VERSION)
	if r.LoadAvg[0] > 0 {
		fmt.Fprintf(w, "; load average %.2f at start, %.2f at end", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w)
	r.table(w)
	r.comparisons(w)
	for _, l := range r.Latency {
		fmt.Fprintf(w, "latency    %-36s p50 %s  p99 %s  max %s  (%d sagas, placed at %s/s", fmt.Sprintf("%g sagas/s, %s", l.Rate, l.Label()),
			ms(l.P50), ms(l.P99), ms(l.Max), l.Sagas, f0(l.PlacedPerSec()))
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
	if ts := r.Targets(); len(ts) > 0 {
		var parts []string
		for _, t := range ts {
			verdict := "met"
			switch {
			case t.Unresolved:
				verdict = "not resolved (noise)"
			case !t.Met:
				verdict = "NOT MET"
			}
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", t.Name, verdict, t.Measured))
		}
		fmt.Fprintf(w, "targets    %s\n", strings.Join(parts, " · "))
	}
	r.notes(w)
}

// row is one line of the throughput table.
type row struct {
	name    string
	t       Throughput
	writes  float64 // per unit: idle to idle for the saga, in the windows for the relay
	windows []float64
}

// table prints the throughput windows, pooled by kind.
func (r Result) table(w io.Writer) {
	var rows []row
	if len(r.Relay) > 0 {
		var runs []float64
		for _, t := range r.Relay {
			runs = append(runs, t.PerSec())
		}
		ref := r.Reference()
		rows = append(rows, row{fmt.Sprintf("relay, jetstream %d hops, saga's settings", relayHops), ref, ratio(float64(ref.Writes), float64(ref.Done)), runs})
	}
	if len(r.BestRelay) > 0 {
		var runs []float64
		for _, t := range r.BestRelay {
			runs = append(runs, t.PerSec())
		}
		ref := r.BestReference()
		rows = append(rows, row{fmt.Sprintf("relay, jetstream %d hops, broker's best", relayHops), ref, ratio(float64(ref.Writes), float64(ref.Done)), runs})
	}
	add := func(name string, ss []Saturation) {
		if len(ss) == 0 {
			return
		}
		var runs []float64
		for _, s := range ss {
			runs = append(runs, s.PerSec())
		}
		p := pool(ss)
		rows = append(rows, row{name, p.Throughput, p.WritesPerSaga(), runs})
	}
	add("saga, tracing off", r.Saga)
	add("saga, tracing on", r.Traced)
	add("saga, dashboard attached", r.dashboardWindows())
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "throughput\tdone/s\twrites/s\twrites per\tserver msgs per\tCPU per\tCPUs (others)\twindows (done/s)\n")
	for _, rw := range rows {
		var runs []string
		for _, v := range rw.windows {
			runs = append(runs, f0(v))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%.2f (%.2f)\t%s\n", rw.name, f0(rw.t.PerSec()), f0(rw.t.WritesPerSec()), f1(rw.writes),
			f1(rw.t.MsgsPerDone()), us(rw.t.CPUPerDone()), rw.t.CPUs(), rw.t.OtherCPUs(), strings.Join(runs, ", "))
	}
	_ = tw.Flush()
}

// comparisons prints the ratios measured in the same run.
func (r Result) comparisons(w io.Writer) {
	if len(r.Relay) > 0 && len(r.Saga) > 0 {
		fmt.Fprintf(w, "ratio      saga writes/s ÷ relay writes/s %.2f (aim ≥ %.1f); by CPU per write, relay ÷ saga %.2f\n",
			r.Ratio(), TargetRatio, r.CPURatio())
	}
	if len(r.BestRelay) > 0 && len(r.Saga) > 0 {
		fmt.Fprintf(w, "           saga writes/s ÷ best relay writes/s %.2f; sagas/s ÷ chains/s %.3f (saga's settings) and %.3f (best)\n",
			r.BestRatio(), ratio(r.SagaPooled().PerSec(), r.Reference().PerSec()), ratio(r.SagaPooled().PerSec(), r.BestReference().PerSec()))
	}
	if c, ok := r.TracingCost(); ok {
		fmt.Fprintf(w, "tracing    every saga traced costs %s of throughput and %s CPU per saga (on vs off, same run)\n",
			pct(c.Throughput), signedPct(c.CPU))
	}
	if c, ok := r.DashboardCost(); ok {
		frames, seen := 0, 0.0
		for _, d := range r.Dashboard {
			frames += d.Frames
			seen = d.Seen
		}
		msgs := ratio(r.DashboardPooled().MsgsPerDone(), r.SagaPooled().MsgsPerDone()) - 1
		fmt.Fprintf(w, "dashboard  attached, it costs %s of throughput (aim < %s), %s CPU and %s server msgs per saga; %d snapshots, last showing %s sagas/s\n",
			pct(c.Throughput), pct(TargetDashboardCost), signedPct(c.CPU), signedPct(msgs), frames, f0(seen))
	}
	if n := r.Noise(); n > 0 {
		fmt.Fprintf(w, "noise      the plain windows differ by %s from their mean: smaller costs are not resolved by this run\n", pct(n))
	}
	others := r.Reference().OtherCPUs()
	for _, s := range [][]Saturation{r.Saga, r.Traced} {
		others = max(others, pool(s).OtherCPUs())
	}
	if others >= busyOthers {
		fmt.Fprintf(w, "warning    other processes kept up to %.2f CPUs busy while measuring: rates are low and noisy, same-run ratios less so\n", others)
	}
}

// notes prints the writes by stream and how each figure was measured.
func (r Result) notes(w io.Writer) {
	o := r.Options
	if s := r.SagaPooled(); s.Sagas > 0 {
		per := s.byStream()
		names := slices.SortedFunc(maps.Keys(per), func(a, b string) int {
			return cmp.Or(cmp.Compare(per[b], per[a]), cmp.Compare(a, b))
		})
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, per[n]))
		}
		fmt.Fprintf(w, "writes     per saga, tracing off (design %d): %s\n", DesignWrites, strings.Join(parts, ", "))
	}
	if s := r.TracedPooled(); s.Sagas > 0 {
		fmt.Fprintf(w, "           tracing on: %.2f per saga, of which spans (%s) %.2f\n", s.WritesPerSaga(), telemetryStream, s.byStream()[telemetryStream])
	}
	fmt.Fprintf(w, "how        writes: every message stored, from the growth of every stream's last sequence read in the server (KV buckets included); msgs: the server's in+out message counters\n")
	if len(r.Relay) > 0 {
		fmt.Fprintf(w, "           relay: hop i pulls subject i, publishes to i+1 awaiting the PubAck, acks; saga stream and consumer config, %d workers/hop\n", o.Workers)
		fmt.Fprintf(w, "           best relay: the same streams and consumers, %d workers/hop publishing async, each input acked when its PubAck arrives, no Nats-Msg-Id\n", bestWorkers)
	}
	if len(r.Saga) > 0 {
		var queued []string
		for _, s := range slices.Concat(r.Saga, r.Traced, r.dashboardWindows()) {
			queued = append(queued, fmt.Sprint(s.Queued))
		}
		fmt.Fprintf(w, "           saturation: %d orders queued, one placed per saga finished; %s windows after %s warm-up, still queued at their ends: %s; writes per saga from idle to idle\n",
			o.Backlog, o.Window, o.Warmup, strings.Join(queued, ", "))
		fmt.Fprintf(w, "           order of windows: %s; pooled by kind, so drift during the run weighs on every kind alike\n", r.Options.Phases.order())
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(w, "           latency: measured first, on the fresh server; load generator at the rate for %s; completed event's time − place-order event's time, both read back from %s, every saga placed in the window\n",
			o.LatencyWindow, ordersStream)
	}
	fmt.Fprintf(w, "           no sim latency: gateway and carrier 0, inventory query %s on %d conns; demo as shipped: system.DefaultDependencies, trace ratio 1\n",
		noSimulatedQuery, o.Workers)
	for _, s := range slices.Concat(r.Saga, r.Traced, r.dashboardWindows()) {
		if s.Cancelled > 0 {
			fmt.Fprintf(w, "warning    %d sagas cancelled in a saturation window: its figures are not clean\n", s.Cancelled)
		}
		if s.Queued == 0 {
			fmt.Fprintf(w, "warning    a saturation window ended with nothing queued: the saga may have waited for orders\n")
		}
	}
}

// dashboardWindows lists the dashboard windows' saturation figures.
func (r Result) dashboardWindows() []Saturation {
	var ss []Saturation
	for _, d := range r.Dashboard {
		ss = append(ss, d.Saturation)
	}
	return ss
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// pct formats a share as a percentage.
func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// signedPct formats a change as a signed percentage.
func signedPct(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }

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
