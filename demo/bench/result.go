package bench

import (
	"maps"
	"math"
	"time"
)

// Targets from the issues that asked for this benchmark (issue 14's for
// throughput, latency and tracing).
const (
	TargetSagasPerSec = 3000                  // at saturation, without simulated latency
	FloorSagasPerSec  = 2000                  // the least issue 14 accepts
	TargetRatio       = 0.6                   // saga writes/s ÷ relay writes/s
	TargetP99         = 10 * time.Millisecond // at 200 sagas/s, without simulated latency
	// TargetTracingCost is the most throughput tracing every saga may cost.
	TargetTracingCost = 0.10
	// TargetDashboardCost is the most throughput a saturated pipeline may
	// lose to an attached dashboard.
	TargetDashboardCost = 0.05
)

// DesignWrites is what one completed saga stores by its design: eight
// stream messages (place order, three commands, three events, completed)
// and nine KV writes (the saga record created and moved on three times; an
// account and a charge; a stock level and a reservation; a shipment).
// Anything above it is retries, advisories, spans or the bench's own
// requests.
const DesignWrites = 17

// Throughput is work finished over a measurement window.
type Throughput struct {
	// Done is the chains (relay) or completed sagas finished in the window.
	Done uint64
	// Writes is every message the server stored in the window.
	Writes uint64
	// Msgs is every message the server received or sent in the window
	// (publishes, acks, deliveries, requests and replies): the traffic the
	// work cost it.
	Msgs    uint64
	Elapsed time.Duration
	// CPU is what the whole process (server, clients, bench) used in the
	// window; 0 where it cannot be read. Other processes on the machine
	// slow the rates down but hardly change the CPU per unit, so CPU per
	// unit compares runs on a busy machine better than rates do.
	CPU time.Duration
	// OthersCPU is what every other process on the machine used in the
	// window (Linux only; 0 elsewhere).
	OthersCPU time.Duration
}

// plus pools two measurements into one, as if made back to back.
func (t Throughput) plus(o Throughput) Throughput {
	return Throughput{
		Done: t.Done + o.Done, Writes: t.Writes + o.Writes, Msgs: t.Msgs + o.Msgs, Elapsed: t.Elapsed + o.Elapsed,
		CPU: t.CPU + o.CPU, OthersCPU: t.OthersCPU + o.OthersCPU,
	}
}

// CPUPerWrite is the process CPU per message stored.
func (t Throughput) CPUPerWrite() time.Duration { return per(t.CPU, t.Writes) }

// CPUPerDone is the process CPU per chain or saga.
func (t Throughput) CPUPerDone() time.Duration { return per(t.CPU, t.Done) }

// MsgsPerDone is the server's messages in and out per chain or saga.
func (t Throughput) MsgsPerDone() float64 { return ratio(float64(t.Msgs), float64(t.Done)) }

// CPUs is how many CPUs the process kept busy on average: below the
// machine's count, either something waits or other processes compete.
func (t Throughput) CPUs() float64 { return ratio(t.CPU.Seconds(), t.Elapsed.Seconds()) }

// OtherCPUs is how many CPUs other processes kept busy on average.
func (t Throughput) OtherCPUs() float64 { return ratio(t.OthersCPU.Seconds(), t.Elapsed.Seconds()) }

// PerSec is Done per second.
func (t Throughput) PerSec() float64 { return ratio(float64(t.Done), t.Elapsed.Seconds()) }

// WritesPerSec is Writes per second.
func (t Throughput) WritesPerSec() float64 { return ratio(float64(t.Writes), t.Elapsed.Seconds()) }

func per(d time.Duration, n uint64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// ratio is a/b, 0 when b is.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Saturation is the saga with a standing queue of orders.
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
	// stored from idle before the window to idle after it, so no saga is
	// cut in two; ByStream splits PhaseWrites by stream.
	Sagas       uint64
	PhaseWrites uint64
	ByStream    map[string]uint64
}

// WritesPerSaga is the exact JetStream writes per finished saga.
func (s Saturation) WritesPerSaga() float64 { return ratio(float64(s.PhaseWrites), float64(s.Sagas)) }

// pool pools saturation windows into one.
func pool(ss []Saturation) Saturation {
	var p Saturation
	p.ByStream = map[string]uint64{}
	for _, s := range ss {
		p.Throughput = p.Throughput.plus(s.Throughput)
		p.Cancelled += s.Cancelled
		p.Queued = max(p.Queued, s.Queued)
		p.Sagas += s.Sagas
		p.PhaseWrites += s.PhaseWrites
		for k, v := range s.ByStream {
			p.ByStream[k] += v
		}
	}
	return p
}

// Dashboard is the saga at saturation with the dashboard's data side
// attached.
type Dashboard struct {
	Saturation
	// Frames is how many snapshots the feed produced while attached.
	Frames int
	// Seen is the completion rate the dashboard itself showed last, a
	// cross-check of Saturation.PerSec from the other side.
	Seen float64
}

// Latency is end-to-end saga latency at a fixed rate.
type Latency struct {
	// Simulated is true for the demo as `sagascope demo` runs it:
	// simulated dependency latencies and every saga traced. False is the
	// pipeline alone: no simulated latency, tracing off.
	Simulated bool
	Rate      float64
	// Window is how long sagas were sampled; Sagas completed of those
	// placed in it, Cancelled did not, Incomplete had not finished when
	// the run stopped waiting.
	Window time.Duration
	// Placed is every saga placed in the window: below Rate × Window, the
	// generator could not keep the rate.
	Placed                       int
	Sagas, Cancelled, Incomplete int
	P50, P99, Max                time.Duration
}

// PlacedPerSec is the rate the sagas were placed at in the window.
func (l Latency) PlacedPerSec() float64 { return ratio(float64(l.Placed), l.Window.Seconds()) }

// Label names the latency's conditions.
func (l Latency) Label() string {
	if l.Simulated {
		return "demo as shipped"
	}
	return "no sim latency"
}

// Result is what a run measured. Fields of phases not run are zero.
type Result struct {
	Options Options
	// Relay is each measurement of the relay with the saga's settings, in
	// the order made; BestRelay each of the broker's best relay (async
	// publish window, input acked after the PubAck, no Nats-Msg-Id,
	// bestWorkers a hop), made right after each Relay.
	Relay     []Throughput
	BestRelay []Throughput
	// Saga is each window of the saga with tracing off and no dashboard,
	// Traced each with every saga traced, Dashboard each with the
	// dashboard's feed attached; all at saturation, in the order made.
	Saga      []Saturation
	Traced    []Saturation
	Dashboard []Dashboard
	Latency   []Latency
	// LoadAvg is the machine's one-minute load average at the start and
	// the end of the run (Linux only).
	LoadAvg [2]float64
}

// Reference pools the relay measurements into one.
func (r Result) Reference() Throughput {
	var t Throughput
	for _, m := range r.Relay {
		t = t.plus(m)
	}
	return t
}

// BestReference pools the best relay's measurements into one.
func (r Result) BestReference() Throughput {
	var t Throughput
	for _, m := range r.BestRelay {
		t = t.plus(m)
	}
	return t
}

// BestRatio is the saga's writes per second at saturation over the best
// relay's; 0 when either was not measured.
func (r Result) BestRatio() float64 {
	return ratio(r.SagaPooled().WritesPerSec(), r.BestReference().WritesPerSec())
}

// SagaPooled pools the saga's plain windows: the headline figures.
func (r Result) SagaPooled() Saturation { return pool(r.Saga) }

// TracedPooled pools the windows with tracing on.
func (r Result) TracedPooled() Saturation { return pool(r.Traced) }

// DashboardPooled pools the windows with the dashboard attached.
func (r Result) DashboardPooled() Saturation { return pool(r.dashboardWindows()) }

// Ratio is the saga's writes per second at saturation over the reference's;
// 0 when either was not measured.
func (r Result) Ratio() float64 {
	return ratio(r.SagaPooled().WritesPerSec(), r.Reference().WritesPerSec())
}

// CPURatio is the reference's CPU per write over the saga's: the ratio
// that other processes competing for the CPUs hardly move. 0 when either
// was not measured.
func (r Result) CPURatio() float64 {
	return ratio(float64(r.Reference().CPUPerWrite()), float64(r.SagaPooled().CPUPerWrite()))
}

// A Cost is what a variant of the saga costs against the plain saga
// measured in the same run.
type Cost struct {
	// Throughput is the share of sagas per second lost (negative: gained).
	Throughput float64
	// CPU is the share of process CPU per saga added.
	CPU float64
}

// cost compares v to the plain saga; ok is false when either is missing.
func (r Result) cost(v Saturation) (c Cost, ok bool) {
	base := r.SagaPooled()
	if base.PerSec() == 0 || v.PerSec() == 0 {
		return c, false
	}
	c.Throughput = 1 - v.PerSec()/base.PerSec()
	if base.CPUPerDone() > 0 && v.CPUPerDone() > 0 {
		c.CPU = float64(v.CPUPerDone())/float64(base.CPUPerDone()) - 1
	}
	return c, true
}

// TracingCost is what tracing every saga costs at saturation.
func (r Result) TracingCost() (Cost, bool) { return r.cost(r.TracedPooled()) }

// DashboardCost is what an attached dashboard costs a saturated pipeline.
func (r Result) DashboardCost() (Cost, bool) { return r.cost(r.DashboardPooled()) }

// Noise is the largest departure of a plain saga window's rate from their
// mean: how much the rate moved with nothing changed, against which the
// costs must be read. 0 with fewer than two plain windows.
func (r Result) Noise() float64 {
	if len(r.Saga) < 2 {
		return 0
	}
	mean := 0.0
	for _, s := range r.Saga {
		mean += s.PerSec() / float64(len(r.Saga))
	}
	n := 0.0
	for _, s := range r.Saga {
		n = max(n, math.Abs(s.PerSec()/mean-1))
	}
	return n
}

// Target is one of the issues' targets and whether the run met it.
type Target struct {
	Name     string
	Measured string
	Met      bool
	// Unresolved is set when the run's noise is as large as the margin
	// the target asks about, so Met says little either way.
	Unresolved bool
}

// Targets judges the run against the targets it measured.
func (r Result) Targets() []Target {
	var out []Target
	if s := r.SagaPooled(); s.Elapsed > 0 {
		v := s.PerSec()
		out = append(out,
			Target{Name: "≥ " + f0(TargetSagasPerSec) + " sagas/s", Measured: f0(v), Met: v >= TargetSagasPerSec},
			Target{Name: "floor " + f0(FloorSagasPerSec) + " sagas/s", Measured: f0(v), Met: v >= FloorSagasPerSec})
		if len(r.Relay) > 0 {
			out = append(out, Target{Name: "ratio ≥ 0.6", Measured: f2(r.Ratio()), Met: r.Ratio() >= TargetRatio})
		}
	}
	for _, l := range r.Latency {
		if !l.Simulated && l.Sagas > 0 {
			out = append(out, Target{Name: "p99 < " + ms(TargetP99) + " at " + f0(l.Rate) + "/s", Measured: ms(l.P99), Met: l.P99 < TargetP99 && l.Incomplete == 0})
		}
	}
	if c, ok := r.TracingCost(); ok {
		out = append(out, Target{Name: "tracing < " + f0(100*TargetTracingCost) + "%", Measured: pct(c.Throughput), Met: c.Throughput < TargetTracingCost,
			Unresolved: r.Noise() >= TargetTracingCost})
	}
	if c, ok := r.DashboardCost(); ok {
		out = append(out, Target{Name: "dashboard < 5%", Measured: pct(c.Throughput), Met: c.Throughput < TargetDashboardCost,
			Unresolved: r.Noise() >= TargetDashboardCost})
	}
	return out
}

// byStream is s.ByStream per saga, for the report.
func (s Saturation) byStream() map[string]float64 {
	out := make(map[string]float64, len(s.ByStream))
	for k, v := range maps.All(s.ByStream) {
		out[k] = ratio(float64(v), float64(s.Sagas))
	}
	return out
}
