package feed

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// The rules for the saga, from the services' status feed, and their
// thresholds. Every window is by the feed's clock.
const (
	// breakerWindow: a breaker not closed for this long (an open breaker
	// half-opens to probe every few seconds, and opens again while its
	// dependency is down).
	breakerWindow = 2 * time.Second
	// poolWindow: every worker busy and messages queued for this long.
	poolWindow = 5 * time.Second
	// parkedWindow: sagas parked within this window.
	parkedWindow = time.Minute
	// deadWindow and deadMin: at least deadMin dead letters within
	// deadWindow.
	deadWindow = 30 * time.Second
	deadMin    = 3
)

func (d *diagnoser) sagaRules(in diagInput, out []Diagnosis) []Diagnosis {
	for i := range in.fleet.Services {
		svc := &in.fleet.Services[i]
		out = d.breakers(in.now, svc, out)
		out = d.pool(in.now, svc, out)
	}
	out = d.parkedRule(in, out)
	return d.deadRule(in, out)
}

// serviceFault is the fault in force on svc that explains a failing or
// slow dependency, "" for none.
func serviceFault(svc *statusfeed.Service, kinds ...contract.FaultKind) string {
	for _, f := range svc.Faults {
		if slices.Contains(kinds, f.Kind) {
			s := string(f.Kind)
			if f.Kind == contract.FaultLatency {
				s += " " + f.Latency.String()
			}
			return s
		}
	}
	return ""
}

func (d *diagnoser) breakers(now time.Time, svc *statusfeed.Service, out []Diagnosis) []Diagnosis {
	for _, b := range svc.Breakers {
		key := string(svc.Name) + "\x00" + b.Name + "\x00" + RuleBreakerOpen
		h := d.hold(key, now, b.State != contract.BreakerClosed, nil)
		if h == nil || now.Sub(h.since) < breakerWindow {
			continue
		}
		state := "open"
		if b.State == contract.BreakerHalfOpen {
			state = "half-open, probing"
		}
		evidence := fmt.Sprintf("breaker %s not closed for %s (now %s); %d failures, %s calls refused", b.Name, ago(now.Sub(h.since)), b.State, b.Failures, num(b.Rejected))
		if b.State == contract.BreakerOpen && b.Remaining > 0 {
			evidence += fmt.Sprintf("; probes again in %s", ago(b.Remaining))
		}
		screen := ScreenOverview
		if f := serviceFault(svc, contract.FaultDependencyDown, contract.FaultError, contract.FaultLatency); f != "" {
			evidence += "; fault " + f + " injected on " + string(svc.Name)
			screen = ScreenFaults
		}
		out = report(out, h, Diagnosis{
			Severity: LevelCritical, About: "service " + string(svc.Name), Rule: RuleBreakerOpen, Screen: screen,
			Finding: fmt.Sprintf("%s's %s breaker is %s: calls to its dependency, the %s, kept failing, so %s refuses them at once instead of waiting on it, and the sagas that need it are cancelled",
				svc.Name, b.Name, state, b.Name, svc.Name),
			Evidence: evidence,
		})
	}
	return out
}

func (d *diagnoser) pool(now time.Time, svc *statusfeed.Service, out []Diagnosis) []Diagnosis {
	p := svc.Pool
	h := d.hold(string(svc.Name)+"\x00"+RulePoolFull, now, p.Capacity > 0 && p.Busy >= p.Capacity && p.Queued > 0, nil)
	if h == nil || now.Sub(h.since) < poolWindow {
		return out
	}
	dependency := "its database"
	if len(svc.Breakers) > 0 {
		dependency = "the " + svc.Breakers[0].Name
	}
	evidence := fmt.Sprintf("%d/%d workers busy and %d queued for %s; processed %s", p.Busy, p.Capacity, p.Queued, ago(now.Sub(h.since)), perSecond(svc.Rates.Processed))
	each := "nothing finishes"
	if r := svc.Rates.Processed; r > 0 {
		// Little's law: the mean time a message holds a worker is the
		// workers busy over the rate they finish at.
		hold := time.Duration(float64(p.Busy) / r * float64(time.Second))
		each = "each message holds a worker about " + ago(hold)
		evidence += fmt.Sprintf("; %d busy ÷ %s = %s a message", p.Busy, perSecond(r), ago(hold))
	}
	screen := ScreenOverview
	if f := serviceFault(svc, contract.FaultLatency); f != "" {
		evidence += "; fault " + f + " injected on " + string(svc.Name)
		screen = ScreenFaults
	}
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: "service " + string(svc.Name), Rule: RulePoolFull, Screen: screen,
		Finding:  fmt.Sprintf("%s's worker pool is full and messages queue behind it: %s, so what its handlers wait on, %s, is slow", svc.Name, each, dependency),
		Evidence: evidence,
	})
}

// parkedRule: sagas parked (compensation_failed) within parkedWindow.
func (d *diagnoser) parkedRule(in diagInput, out []Diagnosis) []Diagnosis {
	if !in.totalsOK {
		return out
	}
	d.parked.push(countAt{at: in.now, n: in.totals.Parked})
	base, _ := valueAt(d.parked, in.now.Add(-parkedWindow))
	rise := sub0(in.totals.Parked, base.n)
	h := d.hold(RuleSagasParked, in.now, rise > 0, nil)
	if h == nil {
		return out
	}
	evidence := fmt.Sprintf("parked %s → %s in %s (sagas ending %s)", num(base.n), num(in.totals.Parked), ago(in.now.Sub(base.at)), contract.SagaCompensationFailed)
	if r, n := topReason(in.parkedReasons); n > 0 {
		evidence += fmt.Sprintf("; %d of the %d recent parked sagas say %q", n, len(in.parkedReasons), r)
	}
	return report(out, h, Diagnosis{
		Severity: LevelCritical, About: "sagas", Rule: RuleSagasParked, Screen: ScreenSagas,
		Finding:  fmt.Sprintf("%s parked: a compensation kept failing after every retry, so these orders are left half undone for a person to settle", countNoun(rise, "saga was", "sagas were")),
		Evidence: evidence,
	})
}

// deadRule: dead letters rising, with their most common reason.
func (d *diagnoser) deadRule(in diagInput, out []Diagnosis) []Diagnosis {
	var last uint64
	found := false
	for _, info := range in.infos {
		if info.Config.Name == contract.DeadLetterStream {
			last, found = info.State.LastSeq, true
		}
	}
	if !found {
		return out
	}
	d.dead.push(countAt{at: in.now, n: last})
	base, _ := valueAt(d.dead, in.now.Add(-deadWindow))
	rise := sub0(last, base.n)
	h := d.hold(RuleDeadLetters, in.now, rise >= deadMin, nil)
	if h == nil {
		return out
	}
	var reasons []string
	for _, dl := range in.dead {
		if dl.Seq > base.n {
			reasons = append(reasons, deadReason(dl))
		}
	}
	evidence := fmt.Sprintf("%s → %s messages in %s in %s", num(base.n), num(last), contract.DeadLetterStream, ago(in.now.Sub(base.at)))
	top := ""
	if r, n := topReason(reasons); n > 0 {
		top = fmt.Sprintf("; most (%d of %d) say %q", n, len(reasons), r)
	}
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: "dead letters", Rule: RuleDeadLetters, Screen: ScreenEvents,
		Finding:  fmt.Sprintf("dead letters are rising: %s given up on%s", countNoun(rise, "message was", "messages were"), top),
		Evidence: evidence,
	})
}

// deadReason is a dead letter's reason with the consumer that gave up.
func deadReason(dl *DeadLetter) string {
	r := oneLine(dl.Reason)
	if len(r) > 120 {
		r = r[:120] + "…"
	}
	if dl.Consumer != "" {
		r += " (" + dl.Consumer + ")"
	}
	return r
}

// topReason is the most common of reasons and how often it occurs; ties
// go to the first in order.
func topReason(reasons []string) (string, int) {
	counts := map[string]int{}
	for _, r := range reasons {
		counts[oneLine(r)]++
	}
	keys := slices.Sorted(maps.Keys(counts))
	best := ""
	for _, k := range keys {
		if best == "" || counts[k] > counts[best] {
			best = k
		}
	}
	return best, counts[best]
}

func countNoun(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return num(n) + " " + many
}
