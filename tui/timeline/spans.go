package timeline

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sagascope/sagascope/tui/feed"
)

// A telemetry snapshot is mostly spans (9 MB of JSON for the feed's
// 10,000 at the demo's load, measured), and a span, once received, never
// changes: consecutive snapshots share all but the newest. So a History
// stores each span once, in the spanLog, and its frames hold the traces
// with span numbers instead of spans (a skeleton): what a frame costs is
// its new spans, not the ten thousand it shows.

// spanKey identifies a span: the span store drops repeats of one.
type spanKey struct{ trace, span string }

// spanLog is every span the frames of a History refer to, numbered in the
// order they were first seen, in compressed chunks of the spans new at
// one frame.
type spanLog struct {
	spanNumbers
	// chunks hold spans first..first+n-1 each, oldest first.
	chunks []spanChunk
	// decoded are the spans the last seek decoded, by number: stepping a
	// second decodes only the chunks it had not.
	decoded map[uint64]*feed.Span
}

type spanChunk struct {
	first uint64
	n     int
	data  []byte // zstd-compressed JSON array of spans
}

// skeleton is a telemetry snapshot with span numbers for spans.
type skeleton struct {
	feed.TelemetrySnapshot
	// Traces shadows the snapshot's: each trace without its spans, and
	// their numbers.
	Traces []skeletonTrace `json:"traces"`
}

type skeletonTrace struct {
	*feed.Trace
	Refs []uint64 `json:"refs"`
}

// spanNumbers numbers spans in the order they were first seen, as the
// frames of a History and of a recorded stream refer to them.
type spanNumbers struct {
	// seen numbers the spans of the newest telemetry snapshot; rebuilt at
	// each frame, so it holds only what is on the feed now: a span that
	// leaves the feed and comes back is new again.
	seen map[spanKey]uint64
	next uint64
}

// number returns t as a skeleton and the spans it holds that the
// snapshot before did not, numbered first, first+1, ...
func (s *spanNumbers) number(t *feed.TelemetrySnapshot) (sk *skeleton, fresh []*feed.Span, first uint64) {
	if s.next == 0 {
		s.next = 1 // 0 is no span
	}
	seen := make(map[spanKey]uint64, len(s.seen))
	sk = &skeleton{TelemetrySnapshot: *t, Traces: make([]skeletonTrace, 0, len(t.Traces))}
	sk.TelemetrySnapshot.Traces = nil
	for _, tr := range t.Traces {
		if tr == nil {
			continue
		}
		bare := *tr
		bare.Spans = nil
		st := skeletonTrace{Trace: &bare, Refs: make([]uint64, 0, len(tr.Spans))}
		for _, sp := range tr.Spans {
			if sp == nil {
				continue
			}
			k := spanKey{sp.TraceID, sp.SpanID}
			n, ok := seen[k]
			if !ok {
				if n, ok = s.seen[k]; !ok {
					n = s.next + uint64(len(fresh))
					fresh = append(fresh, sp)
				}
				seen[k] = n
			}
			st.Refs = append(st.Refs, n)
		}
		sk.Traces = append(sk.Traces, st)
	}
	first = s.next
	s.next += uint64(len(fresh))
	s.seen = seen
	return sk, fresh, first
}

// add numbers the spans of t, stores the new ones as a chunk, and returns
// t as a skeleton. Called with the History's lock held.
func (l *spanLog) add(t *feed.TelemetrySnapshot) (*skeleton, int, error) {
	sk, fresh, first := l.number(t)
	size := 0
	if len(fresh) > 0 {
		raw, err := json.Marshal(fresh)
		if err != nil {
			return nil, 0, fmt.Errorf("store %d spans: %w", len(fresh), err)
		}
		data := compress(plainEnc, raw)
		l.chunks = append(l.chunks, spanChunk{first: first, n: len(fresh), data: data})
		size = len(data)
	}
	return sk, size, nil
}

// drop forgets the chunks whose spans are all numbered below first: no
// frame kept refers to them. It returns the bytes freed.
func (l *spanLog) drop(first uint64) int {
	freed, i := 0, 0
	for ; i < len(l.chunks) && l.chunks[i].first+uint64(l.chunks[i].n) <= first; i++ {
		freed += len(l.chunks[i].data)
	}
	l.chunks = l.chunks[i:]
	return freed
}

// resolve turns a skeleton back into the telemetry snapshot it was.
func (l *spanLog) resolve(sk *skeleton) (*feed.TelemetrySnapshot, error) {
	want := map[uint64]bool{}
	for _, st := range sk.Traces {
		for _, n := range st.Refs {
			want[n] = true
		}
	}
	spans := make(map[uint64]*feed.Span, len(want))
	var missing []uint64
	for n := range want {
		if sp, ok := l.decoded[n]; ok {
			spans[n] = sp
		} else {
			missing = append(missing, n)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	for len(missing) > 0 {
		ci := sort.Search(len(l.chunks), func(i int) bool { return l.chunks[i].first+uint64(l.chunks[i].n) > missing[0] })
		if ci == len(l.chunks) || l.chunks[ci].first > missing[0] {
			return nil, fmt.Errorf("seek: span %d is no longer held", missing[0])
		}
		c := l.chunks[ci]
		raw, err := plainDec.DecodeAll(c.data, nil)
		if err != nil {
			return nil, fmt.Errorf("seek: decompress spans %d+%d: %w", c.first, c.n, err)
		}
		var got []*feed.Span
		if err := json.Unmarshal(raw, &got); err != nil || len(got) != c.n {
			return nil, fmt.Errorf("seek: decode spans %d+%d: %d of them, %v", c.first, c.n, len(got), err)
		}
		for i, sp := range got {
			if n := c.first + uint64(i); want[n] {
				spans[n] = sp
			}
		}
		end := c.first + uint64(c.n)
		for len(missing) > 0 && missing[0] < end {
			missing = missing[1:]
		}
	}
	l.decoded = spans
	return sk.fill(spans), nil
}

// fill is the telemetry snapshot sk was, its spans taken from spans,
// which holds every one sk refers to.
func (sk *skeleton) fill(spans map[uint64]*feed.Span) *feed.TelemetrySnapshot {
	t := sk.TelemetrySnapshot
	t.Traces = make([]*feed.Trace, 0, len(sk.Traces))
	for _, st := range sk.Traces {
		if st.Trace == nil {
			continue
		}
		tr := *st.Trace
		tr.Spans = make([]*feed.Span, 0, len(st.Refs))
		for _, n := range st.Refs {
			tr.Spans = append(tr.Spans, spans[n])
		}
		relink(&tr)
		t.Traces = append(t.Traces, &tr)
	}
	return &t
}

// oldestRef is the lowest span number sk refers to; ok is false when it
// refers to none.
func (sk *skeleton) oldestRef() (n uint64, ok bool) {
	for _, st := range sk.Traces {
		for _, r := range st.Refs {
			if !ok || r < n {
				n, ok = r, true
			}
		}
	}
	return n, ok
}
