package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phase selects the measurements of a run; phases combine with |.
type Phase uint8

// The measurements. A run makes its throughput windows first, in an order
// symmetric in time (relay, traced, plain, dashboard, plain, traced, relay:
// see order), so drift during the run weighs on every kind alike, then the
// latency phases.
const (
	// PhaseRelay is the reference: a raw JetStream relay, measured before
	// and after the saga's windows.
	PhaseRelay Phase = 1 << iota
	// PhaseSaturation is saga throughput and writes per saga with a
	// standing queue of orders, no simulated dependency latency and
	// tracing off.
	PhaseSaturation
	// PhaseTracing is the same with every saga traced, before and after
	// the plain windows.
	PhaseTracing
	// PhaseDashboard is the same with the dashboard's feed attached,
	// between two plain windows.
	PhaseDashboard
	// PhaseLatency is end-to-end saga latency at LatencyRate without
	// simulated dependency latency and tracing off.
	PhaseLatency
	// PhaseDemoLatency is the same for the demo as shipped: simulated
	// latencies (system.DefaultDependencies) and every saga traced.
	PhaseDemoLatency

	// AllPhases is every measurement; it is what a zero Phases means.
	AllPhases = PhaseRelay | PhaseSaturation | PhaseTracing | PhaseDashboard | PhaseLatency | PhaseDemoLatency
)

// A step is one measurement of a run, in run order.
type step string

const (
	stepRelay       step = "relay reference"
	stepTraced      step = "saga at saturation, tracing on"
	stepPlain       step = "saga at saturation"
	stepLatency     step = "latency"
	stepDemoLatency step = "latency of the demo as shipped"
)

// steps is the run's measurements in order. Latency comes first, on the
// fresh server: after the saturation windows the server still holds the
// message ids of the last minute's writes (its duplicate window, about half
// a million) and the streams they filled, and a p99 measured then is that
// aftermath's (47 ms in one run, 10-14 ms on the fresh server), not the
// steady 200/s the figure is about. Each kind of throughput window is
// placed symmetrically around the middle of the rest, so a steady drift in
// the machine's speed shifts every kind's pooled figure alike and the
// ratios between kinds stay fair.
func (p Phase) steps() []step {
	saga := p&(PhaseSaturation|PhaseTracing|PhaseDashboard) != 0
	var out []step
	if p&PhaseLatency != 0 {
		out = append(out, stepLatency)
	}
	if p&PhaseDemoLatency != 0 {
		out = append(out, stepDemoLatency)
	}
	if p&PhaseRelay != 0 {
		out = append(out, stepRelay)
	}
	if p&PhaseTracing != 0 {
		out = append(out, stepTraced)
	}
	if saga {
		out = append(out, stepPlain)
	}
	if p&PhaseTracing != 0 {
		out = append(out, stepTraced)
	}
	if p&PhaseRelay != 0 && saga {
		out = append(out, stepRelay)
	}
	return out
}

// order names the throughput windows of a run in order, for the report.
func (p Phase) order() string {
	var names []string
	for _, s := range p.steps() {
		switch s {
		case stepRelay:
			names = append(names, "relay")
		case stepTraced:
			names = append(names, "traced")
		case stepPlain:
			names = append(names, "plain")
			if p&PhaseDashboard != 0 {
				names = append(names, "dashboard", "plain")
			}
		}
	}
	return strings.Join(names, ", ")
}

// phaseName is the name ParsePhases accepts for a phase.
type phaseName struct {
	phase Phase
	name  string
}

// phaseNames lists the phases as the flag documents them.
var phaseNames = []phaseName{
	{PhaseRelay, "relay"},
	{PhaseSaturation, "saturation"},
	{PhaseTracing, "tracing"},
	{PhaseDashboard, "dashboard"},
	{PhaseLatency, "latency"},
	{PhaseDemoLatency, "demo-latency"},
}

// ErrUnknownPhase reports a phase name ParsePhases does not know.
var ErrUnknownPhase = errors.New("unknown phase (want relay, saturation, tracing, dashboard, latency, demo-latency or all)")

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
	window := o.Warmup + o.Window + 2*time.Second // with the drain and a start
	for _, s := range p.steps() {
		switch s {
		case stepRelay:
			d += 2 * window // with the saga's settings, then the broker's best
		case stepTraced:
			d += window
		case stepPlain:
			d += window
			if p&PhaseDashboard != 0 {
				d += 2 * window
			}
		case stepLatency, stepDemoLatency:
			d += o.Warmup + o.LatencyWindow + 2*time.Second
		}
	}
	if p&PhaseRelay != 0 {
		parts = append(parts, "jetstream relay reference")
	}
	if p&(PhaseSaturation|PhaseTracing|PhaseDashboard) != 0 {
		parts = append(parts, "saga at saturation")
	}
	if p&PhaseTracing != 0 {
		parts = append(parts, "tracing on vs off")
	}
	if p&PhaseDashboard != 0 {
		parts = append(parts, "dashboard attached vs not")
	}
	if p&PhaseLatency != 0 {
		parts = append(parts, fmt.Sprintf("latency at %g/s", o.LatencyRate))
	}
	if p&PhaseDemoLatency != 0 {
		parts = append(parts, fmt.Sprintf("latency at %g/s of the demo as shipped", o.LatencyRate))
	}
	return fmt.Sprintf("%s (about %s)", strings.Join(parts, ", "), d.Round(time.Second))
}

// Set parses a comma-separated list of phase names (see ParsePhases), so a
// *Phase is a flag.Value.
func (p *Phase) Set(list string) error {
	v, err := ParsePhases(list)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
