package feed

import (
	"slices"
	"sort"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
)

// sagaRing keeps the most recently started sagas, each at its latest
// state, in the order they were first seen.
type sagaRing struct {
	order *ring[*sagaSlot]
	byID  map[string]*sagaSlot
}

type sagaSlot struct{ saga *Saga }

func newSagaRing(capacity int) *sagaRing {
	return &sagaRing{order: newRing[*sagaSlot](capacity), byID: make(map[string]*sagaSlot, capacity)}
}

// put records s. It reports whether the saga's status changed (or is new),
// and the status it had before.
func (r *sagaRing) put(s *Saga) (before contract.SagaStatus, known bool) {
	if slot := r.byID[s.ID]; slot != nil {
		if slot.saga.Revision > s.Revision && s.Revision != 0 {
			return slot.saga.Status, true // an older write arriving late
		}
		before = slot.saga.Status
		slot.saga = s
		return before, true
	}
	slot := &sagaSlot{saga: s}
	if old, evicted := r.order.push(slot); evicted {
		delete(r.byID, old.saga.ID)
	}
	r.byID[s.ID] = slot
	return "", false
}

func (r *sagaRing) newestFirst() []*Saga {
	out := make([]*Saga, r.order.len())
	for i := range out {
		out[i] = r.order.at(r.order.len() - 1 - i).saga
	}
	return out
}

// recordSaga stores a saga write; live is false for the writes read back
// on attach, which must not count as completions of this interval.
func (s *state) recordSaga(sg *Saga, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, _ := s.sagas.put(sg)
	if live && sg.Status == contract.SagaCompleted && before != contract.SagaCompleted && len(s.latencies) < maxLatencySamples {
		if d := sg.Updated.Sub(sg.Started); d >= 0 {
			s.latencies = append(s.latencies, d)
		}
	}
	s.sagasDirty, s.changed = true, true
}

// percentiles returns the 50th and 99th percentiles of ds (nearest rank).
// It sorts ds in place.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.5) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return rank(0.50), rank(0.99)
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Source < ps[j].Source })
}
