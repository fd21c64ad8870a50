package feed

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
)

// Diagnosis is one thing wrong with the watched system, said in words: a
// finding that says what is wrong and why, the numbers that show it, and
// the screen that has the detail.
//
// The rules (diagnose_jetstream.go, diagnose_saga.go) judge what the feed
// saw over its own polls by its own clock: a condition must hold for a
// rule's window before it is reported, so a moment's spike is not a
// diagnosis, and a test with a hand-moved clock gets the same answers from
// the same samples.
type Diagnosis struct {
	// Severity is LevelWarn or LevelCritical.
	Severity Level `json:"severity"`
	// About names what is wrong: "consumer SAGA_INVENTORY › inventory",
	// "service payment", "stream ORDERS".
	About string `json:"about"`
	// Finding is one sentence: what is wrong and why.
	Finding string `json:"finding"`
	// Evidence is the numbers that show it.
	Evidence string `json:"evidence"`
	// Screen is the dashboard screen with the detail (Screen* below).
	Screen string `json:"screen"`
	// Rule names the rule that found it (Rule* below).
	Rule string `json:"rule"`
	// Since is when the condition began to hold, by the feed's clock.
	Since time.Time `json:"since"`
	// Stream and Consumer say what the screen should show, when the
	// finding is about one.
	Stream   string `json:"stream,omitempty"`
	Consumer string `json:"consumer,omitempty"`
}

// Screens a diagnosis links to: the dashboard's screen titles, lower case.
const (
	ScreenOverview  = "overview"
	ScreenStreams   = "streams"
	ScreenConsumers = "consumers"
	ScreenFaults    = "faults"
	ScreenSagas     = "sagas"
	ScreenEvents    = "events"
	ScreenServers   = "servers"
)

// Rules.
const (
	RuleConsumerSaturated = "consumer saturated"
	RuleNobodyPulling     = "nobody pulling"
	RuleConsumerPaused    = "consumer paused"
	RuleRedeliveryStorm   = "redelivery storm"
	RuleStreamFull        = "stream full"
	RuleStreamDropping    = "stream dropping unread"
	RuleNoLeader          = "stream without leader"
	RuleReplicaOffline    = "replica offline"
	RuleReplicaLagging    = "replica lagging"
	RuleAPIErrors         = "api errors rising"
	RuleBreakerOpen       = "breaker open"
	RulePoolFull          = "pool full"
	RuleSagasParked       = "sagas parked"
	RuleDeadLetters       = "dead letters rising"
)

// diagInput is what one poll gives the rules.
type diagInput struct {
	now   time.Time
	infos []*jetstream.StreamInfo
	// streams are the poll's streams, one per info, in the same order.
	streams   []Stream
	consumers []Consumer
	// fresh are the streams whose consumers this poll read again.
	fresh    map[string]*listing
	totals   SagaTotals
	totalsOK bool
	fleet    statusfeed.Fleet
	// dead are the recent dead letters, newest first.
	dead []*DeadLetter
	// parkedReasons are the reasons of the recent parked sagas.
	parkedReasons []string
	// api is the account's JetStream API counters, when read this poll.
	api *jetstream.APIStats
}

// diagnoser holds what the rules remember between polls. Only the poll
// goroutine uses it. Its memory is bounded by what is wrong, not by the
// size of the system: a condition is remembered only while it holds.
type diagnoser struct {
	held map[string]*held
	seen map[string]bool
	// api, parked and dead are trends sampled by the feed's clock.
	api    *ring[apiSample]
	apiAt  time.Time
	parked *ring[countAt]
	dead   *ring[countAt]
}

// held is a condition that holds, since when, and what it measured then.
type held struct {
	since time.Time
	// Values at since, each rule using the ones it needs.
	count uint64
	at    time.Time
	// last is what the rule reported the last time it judged, nil for
	// nothing yet; a consumer row the budget did not read again shows it.
	last *Diagnosis
}

type apiSample struct {
	at            time.Time
	total, errors uint64
}

type countAt struct {
	at time.Time
	n  uint64
}

func newDiagnoser() *diagnoser {
	return &diagnoser{
		held: map[string]*held{}, seen: map[string]bool{},
		api: newRing[apiSample](16), parked: newRing[countAt](trendSamples), dead: newRing[countAt](trendSamples),
	}
}

// trendSamples bounds the samples of the parked and dead-letter totals:
// a minute and more at polls of half a second.
const trendSamples = 160

// hold reports whether cond holds for key, and the record made when it
// began to (init fills it the first time). Once cond is false the record
// is forgotten: the condition must hold again for the whole window.
func (d *diagnoser) hold(key string, now time.Time, cond bool, init func(*held)) *held {
	if !cond {
		return nil
	}
	d.seen[key] = true
	h := d.held[key]
	if h == nil {
		h = &held{since: now}
		if init != nil {
			init(h)
		}
		d.held[key] = h
	}
	return h
}

// keep marks key seen without judging it, and returns its record.
func (d *diagnoser) keep(key string) *held {
	if h := d.held[key]; h != nil {
		d.seen[key] = true
		return h
	}
	return nil
}

// run applies every rule to one poll and returns the diagnoses, worst
// first, then oldest first.
func (d *diagnoser) run(in diagInput) []Diagnosis {
	clear(d.seen)
	var out []Diagnosis
	out = d.consumerRules(in, out)
	out = d.streamRules(in, out)
	out = d.apiRule(in, out)
	out = d.sagaRules(in, out)
	for k := range d.held {
		if !d.seen[k] {
			delete(d.held, k)
		}
	}
	slices.SortStableFunc(out, func(a, b Diagnosis) int {
		return cmp.Or(severityRank(b.Severity)-severityRank(a.Severity), a.Since.Compare(b.Since), cmp.Compare(a.About, b.About), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

func severityRank(l Level) int {
	switch l {
	case LevelCritical:
		return 2
	case LevelWarn:
		return 1
	}
	return 0
}

// report records dg as h's last finding and appends it.
func report(out []Diagnosis, h *held, dg Diagnosis) []Diagnosis {
	dg.Since = h.since
	h.last = &dg
	return append(out, dg)
}

// apiInfoEvery is how often the account's API counters are read on the
// API path: one request, from the budget, every five seconds.
const apiInfoEvery = 5 * time.Second

// diagnose gathers what the rules need beyond the poll's streams and
// consumers and runs them.
func (f *Feed) diagnose(ctx context.Context, p *poller, res *pollResult, infos []*jetstream.StreamInfo, fresh map[string]*listing, totals SagaTotals, totalsOK bool, now time.Time) []Diagnosis {
	in := diagInput{now: now, infos: infos, streams: res.streams, consumers: res.consumers, fresh: fresh, totals: totals, totalsOK: totalsOK}
	in.fleet, in.dead, in.parkedReasons = f.st.diagSources()
	if p.diag.apiAt.IsZero() || now.Sub(p.diag.apiAt) >= apiInfoEvery {
		p.diag.apiAt = now
		info, err := f.js.AccountInfo(ctx)
		p.requests++
		p.budget.spend(1)
		if err == nil {
			in.api = &info.API
		}
	}
	return p.diag.run(in)
}

// diagSources is what the saga rules read from the other feeds: the
// services' fleet, the recent dead letters and the reasons of the recent
// parked sagas.
func (s *state) diagSources() (statusfeed.Fleet, []*DeadLetter, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fleet statusfeed.Fleet
	if s.status != nil {
		fleet = s.status.Fleet()
	}
	var reasons []string
	for i := range s.sagas.order.len() {
		if sg := s.sagas.order.at(i).saga; sg.Status == contract.SagaCompensationFailed {
			reasons = append(reasons, sg.Reason)
		}
	}
	return fleet, s.dead.newestFirst(), reasons
}

// valueAt is the newest sample of r taken at or before t, else the oldest;
// ok is false when r is empty.
func valueAt(r *ring[countAt], t time.Time) (countAt, bool) {
	if r.len() == 0 {
		return countAt{}, false
	}
	v := r.at(0)
	for i := range r.len() {
		if s := r.at(i); !s.at.After(t) {
			v = s
		}
	}
	return v, true
}

// ago is a duration for a sentence: "8s", "2m5s".
func ago(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// num formats a count with thousands separators.
func num[T ~int | ~int32 | ~uint64 | ~int64](v T) string {
	s := fmt.Sprint(v)
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// perSecond formats a rate.
func perSecond(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f/s", v)
	case v >= 10:
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.2f/s", v)
}
