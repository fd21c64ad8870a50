package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// Expectation is something the running system must show: a metric compared
// with a bound, either once, eventually (Within) or throughout (During).
type Expectation struct {
	// Metric is one of Metrics' names.
	Metric string `yaml:"metric"`
	// Service, Breaker and Stream say whose metric, where it needs one.
	Service contract.Service `yaml:"service,omitempty"`
	Breaker string           `yaml:"breaker,omitempty"`
	Stream  string           `yaml:"stream,omitempty"`
	// Contains filters by reason, for the metrics that count reasons.
	Contains string `yaml:"contains,omitempty"`

	// Bounds on a number; every bound set must hold.
	Above   *float64 `yaml:"above,omitempty"`
	Below   *float64 `yaml:"below,omitempty"`
	AtLeast *float64 `yaml:"at_least,omitempty"`
	AtMost  *float64 `yaml:"at_most,omitempty"`
	// AtLimit holds when the number reached the limit the system sets on
	// it (a consumer's max ack pending, a pool's workers).
	AtLimit bool `yaml:"at_limit,omitempty"`
	// Delta compares the increase since the step began rather than the
	// value.
	Delta bool `yaml:"delta,omitempty"`
	// Is is the state a state metric must be in (a breaker's).
	Is string `yaml:"is,omitempty"`
	// Moved holds when a stream's leader is no longer the node stop_node
	// stopped.
	Moved bool `yaml:"moved,omitempty"`

	// Within makes the expectation wait until it holds, failing after this
	// long (scaled by Options.Patience).
	Within time.Duration `yaml:"within,omitempty"`
	// During makes it hold at every sample for this long (scaled by
	// Options.Scale, like a wait).
	During time.Duration `yaml:"during,omitempty"`
	// Says is the sentence printed for it; default: one built from the
	// fields.
	Says string `yaml:"says,omitempty"`
}

// metricKind is what a metric measures, which decides the bounds it takes.
type metricKind int

const (
	numeric metricKind = iota // a number: above, below, at_least, at_most, at_limit, delta
	state                     // a word: is
	leader                    // a node name: moved
	verdict                   // pass or fail by itself: check
)

// MetricInfo documents one metric.
type MetricInfo struct {
	Name    string
	Summary string
	kind    metricKind
	// needs says which of service, breaker, stream it requires.
	service, breaker, stream bool
	// limit says whether at_limit means something for it.
	limit bool
	// contains says whether it is filtered by reason.
	contains bool
}

// Metrics lists every metric an expectation can name.
var Metrics = []MetricInfo{
	{Name: "lag", Summary: "messages of a service's command consumer not yet delivered", service: true},
	{Name: "ack_pending", Summary: "messages a service's command consumer delivered and awaits acks for (limit: max ack pending)", service: true, limit: true},
	{Name: "redelivered", Summary: "deliveries of a service's command consumer beyond one per stored command", service: true},
	{Name: "pool_busy", Summary: "busy workers of a service, all instances (limit: every worker)", service: true, limit: true},
	{Name: "pool_held", Summary: "messages held in memory by the busiest instance of a service, busy plus queued (limit: twice its workers)", service: true, limit: true},
	{Name: "breaker", Summary: "a service's circuit breaker state: closed, open or half-open", kind: state, service: true, breaker: true},
	{Name: "processed", Summary: "messages a service handled (sum of its instances' counters)", service: true},
	{Name: "retried", Summary: "handler failures a service retried", service: true},
	{Name: "duplicates", Summary: "redeliveries a service recognised and did not apply again", service: true},
	{Name: "dead_lettered", Summary: "messages a service sent to the dead-letter stream", service: true},
	{Name: "instances", Summary: "instances reporting running (of a service, or of all)"},
	{Name: "load", Summary: "the load generator's effective rate, orders/s"},
	{Name: "latency_ms", Summary: "median time from order to outcome of the sagas finished in the last 5 s"},
	{Name: "sagas_placed", Summary: "orders placed"},
	{Name: "sagas_completed", Summary: "sagas completed"},
	{Name: "sagas_cancelled", Summary: "sagas cancelled after compensating"},
	{Name: "sagas_parked", Summary: "sagas parked as compensation_failed"},
	{Name: "sagas_in_flight", Summary: "sagas placed and not finished"},
	{Name: "dead_letters", Summary: "messages in the dead-letter stream (contains: with that reason)", contains: true},
	{Name: "cancelled_with_reason", Summary: "cancelled sagas whose reason contains the text", contains: true},
	{Name: "compensations_out_of_order", Summary: "cancelled sagas whose compensations did not run last step first"},
	{Name: "leader", Summary: "the node leading a stream (moved: no longer the node stop_node stopped)", kind: leader, stream: true},
	{Name: "check", Summary: "sagascope check: every saga finished, nothing lost, nothing applied twice, money and stock conserved", kind: verdict},
}

func metricInfo(name string) (MetricInfo, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}

// validate checks e's fields make sense for its metric; path locates it.
func (e Expectation) validate(path []any) error {
	m, ok := metricInfo(e.Metric)
	if !ok {
		return at(append(path, "metric"), "unknown metric %q (want one of %s)", e.Metric, metricNames())
	}
	switch {
	case m.service && e.Service == "":
		return at(path, "metric %s needs a service", e.Metric)
	case e.Service != "" && !e.Service.Valid():
		return at(append(path, "service"), "%v", &contract.UnknownServiceError{Name: string(e.Service)})
	case e.Service != "" && !m.service && e.Metric != "instances":
		return at(append(path, "service"), "metric %s takes no service", e.Metric)
	case m.breaker && e.Breaker == "":
		return at(path, "metric %s needs a breaker (gateway, carrier)", e.Metric)
	case !m.breaker && e.Breaker != "":
		return at(append(path, "breaker"), "metric %s takes no breaker", e.Metric)
	case m.stream && e.Stream == "":
		return at(path, "metric %s needs a stream", e.Metric)
	case !m.stream && e.Stream != "":
		return at(append(path, "stream"), "metric %s takes no stream", e.Metric)
	case !m.contains && e.Contains != "":
		return at(append(path, "contains"), "metric %s takes no contains", e.Metric)
	case m.contains && e.Metric == "cancelled_with_reason" && e.Contains == "":
		return at(path, "metric %s needs contains: the reason to count", e.Metric)
	case e.Within < 0 || e.During < 0:
		return at(path, "within and during cannot be negative")
	case e.Within > 0 && e.During > 0:
		return at(path, "give within (holds eventually) or during (holds throughout), not both")
	}
	bounds := e.Above != nil || e.Below != nil || e.AtLeast != nil || e.AtMost != nil || e.AtLimit
	switch m.kind {
	case numeric:
		if e.Is != "" || e.Moved {
			return at(path, "metric %s is a number: bound it with above, below, at_least, at_most or at_limit", e.Metric)
		}
		if !bounds {
			return at(path, "metric %s needs a bound: above, below, at_least, at_most or at_limit", e.Metric)
		}
		if e.AtLimit && !m.limit {
			return at(append(path, "at_limit"), "metric %s has no limit", e.Metric)
		}
	case state:
		if bounds || e.Moved || e.Delta {
			return at(path, "metric %s is a state: say which with is", e.Metric)
		}
		switch contract.BreakerState(e.Is) {
		case contract.BreakerClosed, contract.BreakerOpen, contract.BreakerHalfOpen:
		default:
			return at(append(path, "is"), "breaker state %q: want closed, open or half-open", e.Is)
		}
	case leader:
		if bounds || e.Is != "" || e.Delta || !e.Moved {
			return at(path, "metric %s takes moved: true", e.Metric)
		}
	case verdict:
		if bounds || e.Is != "" || e.Delta || e.Moved {
			return at(path, "metric %s passes or fails by itself: give it no bound", e.Metric)
		}
	}
	return nil
}

func metricNames() string {
	names := make([]string, len(Metrics))
	for i, m := range Metrics {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// String is the expectation as a sentence: Says, or one built from its
// fields, e.g. "payment gateway breaker is open within 5s".
func (e Expectation) String() string {
	if e.Says != "" {
		return e.Says
	}
	var b strings.Builder
	if e.Service != "" {
		b.WriteString(string(e.Service) + " ")
	}
	if e.Breaker != "" {
		b.WriteString(e.Breaker + " ")
	}
	if e.Stream != "" {
		b.WriteString(e.Stream + " ")
	}
	b.WriteString(e.Metric)
	if e.Contains != "" {
		fmt.Fprintf(&b, " %q", e.Contains)
	}
	if e.Delta {
		b.WriteString(" increase")
	}
	for _, bound := range []struct {
		word string
		v    *float64
	}{{"above", e.Above}, {"below", e.Below}, {"at least", e.AtLeast}, {"at most", e.AtMost}} {
		if bound.v != nil {
			b.WriteString(" " + bound.word + " " + strconv.FormatFloat(*bound.v, 'f', -1, 64))
		}
	}
	if e.AtLimit {
		b.WriteString(" at its limit")
	}
	if e.Is != "" {
		b.WriteString(" is " + e.Is)
	}
	if e.Moved {
		b.WriteString(" moved off the stopped node")
	}
	switch {
	case e.Within > 0:
		b.WriteString(" within " + e.Within.String())
	case e.During > 0:
		b.WriteString(" throughout " + e.During.String())
	}
	return b.String()
}

// Observed is one reading of a metric.
type Observed struct {
	// Value is the number read (for numeric metrics), after subtracting the
	// base when the expectation compares a Delta.
	Value float64
	// Limit is the limit at_limit compares with, when known.
	Limit float64
	// Text is the reading for a person: "812", "open", "s2", "OK".
	Text string
	// Pass is whether this reading satisfies the expectation.
	Pass bool
}

// judgeNumber compares v with e's bounds.
func (e Expectation) judgeNumber(v, limit float64) bool {
	ok := true
	if e.Above != nil {
		ok = ok && v > *e.Above
	}
	if e.Below != nil {
		ok = ok && v < *e.Below
	}
	if e.AtLeast != nil {
		ok = ok && v >= *e.AtLeast
	}
	if e.AtMost != nil {
		ok = ok && v <= *e.AtMost
	}
	if e.AtLimit {
		ok = ok && limit > 0 && v >= limit
	}
	return ok
}

// formatNumber prints a reading without needless decimals.
func formatNumber(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
