package feed

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
)

// maxStatusSize bounds a status message the feed decodes; a real one is
// well under 4 KiB.
const maxStatusSize = 64 << 10

// instance is the latest status of one service instance.
type instance struct {
	status contract.Status
	seen   time.Time // by the feed's clock: liveness does not trust remote clocks
	rates  Rates
	// prev is the counter sample rates are measured from, at least a
	// second older than status.
	prev   contract.Counters
	prevAt time.Time
}

// followStatus subscribes to every instance's status.
func (f *Feed) followStatus() (*nats.Subscription, error) {
	sub, err := f.nc.Subscribe(contract.StatusSubjects, func(m *nats.Msg) {
		if len(m.Data) > maxStatusSize {
			return
		}
		var st contract.Status
		if json.Unmarshal(m.Data, &st) != nil || !st.Service.Valid() || st.Instance == "" {
			return
		}
		f.st.recordStatus(st, f.opts.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("follow service status on %s: %w", contract.StatusSubjects, err)
	}
	return sub, nil
}

func (s *state) recordStatus(st contract.Status, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(st.Service) + "/" + st.Instance
	in := s.instances[key]
	if in == nil {
		in = &instance{prev: st.Counters, prevAt: st.Time}
		s.instances[key] = in
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
	s.changed = true
}

func sub0(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// services aggregates the live instances of every service; called with mu
// held. Instances silent for longer than StatusTimeout are dropped.
func (s *state) services(now time.Time) (out []Service, load *contract.LoadStatus, faults []contract.Fault, reporting bool) {
	out = make([]Service, len(contract.Services))
	index := map[contract.Service]int{}
	for i, name := range contract.Services {
		out[i] = Service{Name: name}
		index[name] = i
	}
	keys := make([]string, 0, len(s.instances))
	for k, in := range s.instances {
		if now.Sub(in.seen) > s.opts.StatusTimeout {
			delete(s.instances, k)
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order: map iteration is random
	seenFault := map[string]bool{}
	for _, k := range keys {
		in := s.instances[k]
		st := in.status
		svc := &out[index[st.Service]]
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
			// The open countdown ran on since the status was sent.
			rem := max(0, b.Remaining-now.Sub(in.seen))
			svc.Breakers = mergeBreaker(svc.Breakers, Breaker{Name: b.Name, State: b.State, Remaining: rem, Successes: b.Successes, Failures: b.Failures, Rejected: b.Rejected})
		}
		for _, f := range st.Faults {
			if !f.Active(now) {
				continue
			}
			id := string(f.Service) + "/" + string(f.Kind)
			if !seenFault[id] {
				seenFault[id] = true
				faults = append(faults, f)
			}
		}
		if st.Load != nil {
			l := *st.Load
			load = &l
		}
		reporting = true
	}
	for i := range out {
		for _, f := range faults {
			if f.Service == out[i].Name {
				out[i].Faults = append(out[i].Faults, f)
			}
		}
		if c, ok := s.poll.command[out[i].Name]; ok {
			out[i].Command = &s.poll.consumers[c]
		}
	}
	slices.SortFunc(faults, func(a, b contract.Fault) int {
		return strings.Compare(string(a.Service)+"/"+string(a.Kind), string(b.Service)+"/"+string(b.Kind))
	})
	return out, load, faults, reporting
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
