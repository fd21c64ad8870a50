package feed

import (
	"slices"
	"strings"
	"time"
)

// Trace is the spans of one trace received so far. A *Trace in a snapshot
// is never modified: when more of its spans arrive the store makes a new
// version, so a view may keep and read it without locks.
type Trace struct {
	ID string `json:"id"`
	// SagaID is the saga the trace's spans name, "" if none does.
	SagaID string `json:"saga_id,omitempty"`
	// Root is the span without a parent, nil until it arrives (it often
	// comes last: its batch leaves when the batch timer fires).
	Root *Span `json:"-"`
	// First is the span that started first.
	First *Span `json:"-"`
	// Start and End span every span received.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Spans are in the order they arrived; a trace keeps at most
	// maxTraceSpans of them.
	Spans []*Span `json:"spans"`
	// Services are the services with spans in the trace, sorted.
	Services []string `json:"services"`
	// Errors counts the spans that ended with an error status.
	Errors int `json:"errors,omitempty"`
	// Dropped counts spans beyond maxTraceSpans, and repeats of a span
	// already held.
	Dropped int `json:"dropped,omitempty"`
	// Updated is when its newest span arrived.
	Updated time.Time `json:"updated"`
}

// Name is the trace's root span's name, else its first span's.
func (t *Trace) Name() string {
	switch {
	case t.Root != nil:
		return t.Root.Name
	case t.First != nil:
		return t.First.Name
	}
	return ""
}

// Duration is the time from the first span's start to the last span's end.
func (t *Trace) Duration() time.Duration { return t.End.Sub(t.Start) }

// maxTraceSpans bounds one trace: a saga's trace has a few dozen spans, so
// a trace with thousands is a bug or an attack and would evict every other.
const maxTraceSpans = 2000

// traceStore keeps the spans of recent traces, grouped by trace, within a
// budget of spans and of traces: over either, the traces seen first are
// evicted whole. It is not safe for concurrent use.
type traceStore struct {
	maxSpans, maxTraces int
	byID                map[string]*traceSlot
	// order holds the slots by first arrival; order[head:] are live.
	order []*traceSlot
	head  int
	spans int
	// gen counts snapshots: a slot whose trace was made in this gen has not
	// been handed out yet, so it may be changed in place.
	gen     uint64
	evicted uint64
	dirty   bool
	cache   []*Trace
}

type traceSlot struct {
	t   *Trace
	gen uint64
	ids map[string]struct{} // span ids held, to drop repeats
}

func newTraceStore(maxSpans, maxTraces int) *traceStore {
	return &traceStore{maxSpans: max(1, maxSpans), maxTraces: max(1, maxTraces), byID: map[string]*traceSlot{}}
}

// add stores one span received at now.
func (s *traceStore) add(sp *Span, now time.Time) {
	slot := s.byID[sp.TraceID]
	if slot == nil {
		slot = &traceSlot{t: &Trace{ID: sp.TraceID, Start: sp.Start, End: sp.End}, gen: s.gen, ids: map[string]struct{}{}}
		s.byID[sp.TraceID] = slot
		s.order = append(s.order, slot)
	}
	if _, dup := slot.ids[sp.SpanID]; dup || len(slot.t.Spans) >= maxTraceSpans {
		s.writable(slot).Dropped++
		s.dirty = true
		return
	}
	slot.ids[sp.SpanID] = struct{}{}
	t := s.writable(slot)
	// Appending may write past the end of a slice a snapshot holds, never
	// within it: readers of the old version see only their length.
	t.Spans = append(t.Spans, sp)
	t.Updated = now
	if sp.Start.Before(t.Start) {
		t.Start = sp.Start
	}
	if sp.End.After(t.End) {
		t.End = sp.End
	}
	if t.First == nil || sp.Start.Before(t.First.Start) {
		t.First = sp
	}
	if sp.ParentID == "" && t.Root == nil {
		t.Root = sp
	}
	if t.SagaID == "" {
		t.SagaID = sp.SagaID
	}
	if sp.Failed() {
		t.Errors++
	}
	if i, found := slices.BinarySearch(t.Services, sp.Service); !found {
		t.Services = slices.Insert(slices.Clip(t.Services), i, sp.Service)
	}
	s.spans++
	s.dirty = true
	s.evict()
}

// writable returns slot's trace, copied first if a snapshot may hold it.
func (s *traceStore) writable(slot *traceSlot) *Trace {
	if slot.gen != s.gen {
		cp := *slot.t
		slot.t, slot.gen = &cp, s.gen
	}
	return slot.t
}

// evict drops the traces seen first until the budgets hold. The newest
// trace is never evicted: one trace over the span budget is still shown.
func (s *traceStore) evict() {
	for len(s.order)-s.head > 1 && (s.spans > s.maxSpans || len(s.order)-s.head > s.maxTraces) {
		old := s.order[s.head]
		s.order[s.head] = nil
		s.head++
		delete(s.byID, old.t.ID)
		s.spans -= len(old.t.Spans)
		s.evicted++
	}
	// Reclaim the evicted prefix once it is half the slice.
	if s.head > 64 && s.head*2 > len(s.order) {
		s.order = append(s.order[:0], s.order[s.head:]...)
		s.head = 0
	}
}

// traces returns the traces held, the one that started last first. The
// slice is shared by the snapshots until a span arrives.
func (s *traceStore) traces() []*Trace {
	if s.dirty || s.cache == nil {
		out := make([]*Trace, 0, len(s.order)-s.head)
		for _, slot := range s.order[s.head:] {
			out = append(out, slot.t)
		}
		slices.SortStableFunc(out, func(a, b *Trace) int {
			if c := b.Start.Compare(a.Start); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		s.cache, s.dirty = out, false
	}
	// Every trace is now handed out: the next change copies it.
	s.gen++
	return s.cache
}
