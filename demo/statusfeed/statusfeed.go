// Package statusfeed reads the services' status feed: every instance
// publishes a contract.Status on contract.StatusSubject about twice a
// second. It is the one reader of that feed for everything that shows or
// judges the system (the dashboard's feed, the status line of a run
// without the dashboard, the scenario observer): it keeps each instance's
// latest status, measures the rates of its counters, forgets an instance
// silent for longer than a timeout, and aggregates the live ones per
// service.
//
// Liveness is judged by this reader's clock, when a status arrived, never
// by the sender's: remote clocks drift.
package statusfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
)

// DefaultTimeout is how long after its last status an instance counts as
// gone by default; instances report about twice a second.
const DefaultTimeout = 3 * time.Second

// maxStatusSize bounds a status message the reader decodes; a real one is
// well under 4 KiB.
const maxStatusSize = 64 << 10

// maxGone bounds the instances remembered after they went away (for
// Totals): instances come and go rarely, but a crash loop must not grow
// the reader without end.
const maxGone = 1024

// Options configure a Reader. The zero value is usable.
type Options struct {
	// Timeout is how long after its last status an instance counts as
	// gone (default DefaultTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnChange, if set, is called after every status recorded, from the
	// subscription's goroutine; it must not block.
	OnChange func()
}

// Reader holds the latest status of every instance. Its methods are safe
// for concurrent use.
type Reader struct {
	opts Options
	sub  *nats.Subscription

	mu        sync.Mutex
	instances map[string]*instance // by service/instance id
	// gone are the last counters of instances that went silent, so Totals
	// still counts what they did.
	gone map[string]gone
}

// instance is the latest status of one service instance.
type instance struct {
	status contract.Status
	seen   time.Time // by the reader's clock
	rates  Rates
	// prev is the counter sample rates are measured from, at least a
	// second older than status.
	prev   contract.Counters
	prevAt time.Time
}

type gone struct {
	svc      contract.Service
	counters contract.Counters
}

// New returns a reader that records what it is given; Follow also
// subscribes it to the feed.
func New(opts Options) *Reader {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reader{opts: opts, instances: map[string]*instance{}, gone: map[string]gone{}}
}

// Follow subscribes a new reader to every instance's status on nc. Close
// ends the subscription; nc stays the caller's.
func Follow(nc *nats.Conn, opts Options) (*Reader, error) {
	r := New(opts)
	sub, err := nc.Subscribe(contract.StatusSubjects, func(m *nats.Msg) { r.receive(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("follow service status on %s: %w", contract.StatusSubjects, err)
	}
	// Statuses are samples, not a log: a slow reader drops some rather
	// than holding the connection.
	_ = sub.SetPendingLimits(64<<10, 64<<20)
	r.sub = sub
	return r, nil
}

// Close unsubscribes a reader made by Follow. A connection already
// closed has ended the subscription itself.
func (r *Reader) Close() error {
	if r.sub == nil {
		return nil
	}
	if err := r.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("stop following service status: %w", err)
	}
	return nil
}

// receive decodes one message; one that is too big, malformed or names no
// known service is ignored: the feed is untrusted.
func (r *Reader) receive(data []byte) {
	if len(data) > maxStatusSize {
		return
	}
	var st contract.Status
	if json.Unmarshal(data, &st) != nil || !st.Service.Valid() || st.Instance == "" {
		return
	}
	r.Record(st)
}

// Record records st as the latest status of its instance.
func (r *Reader) Record(st contract.Status) {
	now := r.opts.Now()
	r.mu.Lock()
	key := string(st.Service) + "/" + st.Instance
	in := r.instances[key]
	if in == nil {
		in = &instance{prev: st.Counters, prevAt: st.Time}
		r.instances[key] = in
		delete(r.gone, key)
	}
	c := st.Counters
	if c.Processed < in.prev.Processed || c.Failed < in.prev.Failed || st.Time.Before(in.prevAt) {
		// Counters went back: the instance restarted. Measure from here.
		in.prev, in.prevAt, in.rates = c, st.Time, Rates{}
	}
	if dt := st.Time.Sub(in.prevAt).Seconds(); dt >= 1 {
		in.rates = Rates{
			Processed:    float64(c.Processed-in.prev.Processed) / dt,
			Failed:       float64(c.Failed-in.prev.Failed) / dt,
			Retried:      float64(sub0(c.Retried, in.prev.Retried)) / dt,
			DeadLettered: float64(sub0(c.DeadLettered, in.prev.DeadLettered)) / dt,
		}
		in.prev, in.prevAt = c, st.Time
	}
	in.status, in.seen = st, now
	r.mu.Unlock()
	if r.opts.OnChange != nil {
		r.opts.OnChange()
	}
}

func sub0(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// liveLocked drops the instances silent for longer than the timeout and
// returns the keys of the others in a stable order; called with mu held.
func (r *Reader) liveLocked(now time.Time) []string {
	keys := make([]string, 0, len(r.instances))
	for k, in := range r.instances {
		if now.Sub(in.seen) > r.opts.Timeout {
			delete(r.instances, k)
			if len(r.gone) < maxGone {
				r.gone[k] = gone{svc: in.status.Service, counters: in.status.Counters}
			}
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // map iteration is random
	return keys
}

// Latest returns the latest status of every live instance of svc, or of
// every service when svc is "", ordered by service and instance.
func (r *Reader) Latest(svc contract.Service) []contract.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []contract.Status
	for _, k := range r.liveLocked(r.opts.Now()) {
		if st := r.instances[k].status; svc == "" || st.Service == svc {
			out = append(out, st)
		}
	}
	return out
}

// Totals sums the last counters of every instance of svc ever heard from,
// live or gone: they are totals since each instance started, and an
// instance that went away still did what it counted.
func (r *Reader) Totals(svc contract.Service) contract.Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c contract.Counters
	add := func(x contract.Counters) {
		c.Processed += x.Processed
		c.Failed += x.Failed
		c.Retried += x.Retried
		c.DeadLettered += x.DeadLettered
		c.Duplicates += x.Duplicates
	}
	for _, k := range r.liveLocked(r.opts.Now()) {
		if st := r.instances[k].status; st.Service == svc {
			add(st.Counters)
		}
	}
	for _, g := range r.gone {
		if g.svc == svc {
			add(g.counters)
		}
	}
	return c
}

// Fleet aggregates the live instances of every service as of now.
func (r *Reader) Fleet() Fleet {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	f := Fleet{Services: make([]Service, len(contract.Services))}
	index := map[contract.Service]int{}
	for i, name := range contract.Services {
		f.Services[i] = Service{Name: name}
		index[name] = i
	}
	seenFault := map[string]bool{}
	for _, k := range r.liveLocked(now) {
		in := r.instances[k]
		st := in.status
		svc := &f.Services[index[st.Service]]
		svc.Instances = append(svc.Instances, Instance{ID: st.Instance, Version: st.Version, State: st.State, Seen: in.seen, Pool: st.Pool})
		svc.Pool.Capacity += st.Pool.Capacity
		svc.Pool.Busy += st.Pool.Busy
		svc.Pool.Queued += st.Pool.Queued
		svc.Counters.Processed += st.Counters.Processed
		svc.Counters.Failed += st.Counters.Failed
		svc.Counters.Retried += st.Counters.Retried
		svc.Counters.DeadLettered += st.Counters.DeadLettered
		svc.Counters.Duplicates += st.Counters.Duplicates
		svc.Rates.Processed += in.rates.Processed
		svc.Rates.Failed += in.rates.Failed
		svc.Rates.Retried += in.rates.Retried
		svc.Rates.DeadLettered += in.rates.DeadLettered
		for _, b := range st.Breakers {
			// The open countdown ran on since the status arrived.
			rem := max(0, b.Remaining-now.Sub(in.seen))
			svc.Breakers = mergeBreaker(svc.Breakers, Breaker{Name: b.Name, State: b.State, Remaining: rem, Successes: b.Successes, Failures: b.Failures, Rejected: b.Rejected})
		}
		for _, fault := range st.Faults {
			if !fault.Active(now) {
				continue
			}
			id := string(fault.Service) + "/" + string(fault.Kind)
			if !seenFault[id] {
				seenFault[id] = true
				f.Faults = append(f.Faults, fault)
			}
		}
		if st.Load != nil {
			l := *st.Load
			f.Load = &l
		}
		f.Reporting = true
	}
	for i := range f.Services {
		for _, fault := range f.Faults {
			if fault.Service == f.Services[i].Name {
				f.Services[i].Faults = append(f.Services[i].Faults, fault)
			}
		}
	}
	slices.SortFunc(f.Faults, func(a, b contract.Fault) int {
		return strings.Compare(string(a.Service)+"/"+string(a.Kind), string(b.Service)+"/"+string(b.Kind))
	})
	return f
}

// breakerRank orders states from healthy to failing.
func breakerRank(s contract.BreakerState) int {
	switch s {
	case contract.BreakerOpen:
		return 2
	case contract.BreakerHalfOpen:
		return 1
	}
	return 0
}

// mergeBreaker adds b to list, keeping the worst state per name and
// summing the counts of instances.
func mergeBreaker(list []Breaker, b Breaker) []Breaker {
	for i := range list {
		if list[i].Name != b.Name {
			continue
		}
		cur := &list[i]
		cur.Successes += b.Successes
		cur.Failures += b.Failures
		cur.Rejected += b.Rejected
		if breakerRank(b.State) > breakerRank(cur.State) || b.State == cur.State && b.Remaining > cur.Remaining {
			cur.State, cur.Remaining = b.State, b.Remaining
		}
		return list
	}
	return append(list, b)
}
