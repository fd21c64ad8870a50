package timeline_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/statusfeed"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/internal/same"
	"github.com/sagascope/sagascope/tui/timeline"
)

// poll is the i-th snapshot of a steady system, one a second from t0:
// Placed counts the polls, so a frame says which poll it holds.
func poll(i int) feed.Snapshot {
	return feed.Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Sagas: feed.SagaTotals{Known: true, Placed: uint64(i)},
		Services: []feed.Service{{Service: statusfeed.Service{Name: contract.Payment, Breakers: []feed.Breaker{{Name: "gateway", State: contract.BreakerClosed}}}}}}
}

func TestSeekFindsTheFrameAtOrBeforeATime(t *testing.T) {
	h := timeline.NewHistory(timeline.Options{})
	if _, err := h.Seek(t0); !errors.Is(err, timeline.ErrEmpty) {
		t.Fatalf("Seek on an empty history = %v, want ErrEmpty", err)
	}
	// Ten snapshots a second for 35 s: one frame a second is kept, the
	// newest state at its time, in four groups.
	for i := range 350 {
		s := poll(0)
		s.Time = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		s.Sagas.Placed = uint64(i)
		h.AddSnapshot(s)
	}
	if st := h.Stats(); st.Frames != 35 || st.Err != nil {
		t.Fatalf("stats %+v, want 35 frames", st)
	}
	for _, tt := range []struct {
		name   string
		at     time.Duration
		placed uint64
	}{
		{"before the first frame: the first", -time.Minute, 0},
		{"at a keyframe", 10 * time.Second, 100},
		{"between frames: the one before", 12*time.Second + 500*time.Millisecond, 120},
		{"in the last group", 34 * time.Second, 340},
		{"after the last: the last", time.Hour, 340},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := h.Seek(t0.Add(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			if f.Snapshot.Sagas.Placed != tt.placed || !f.Time.Equal(f.Snapshot.Time) {
				t.Fatalf("frame at %s holds poll %d, want %d", f.Time.Format(time.TimeOnly), f.Snapshot.Sagas.Placed, tt.placed)
			}
		})
	}
}

func TestTheHistoryKeepsItsWindowAndItsBytes(t *testing.T) {
	h := timeline.NewHistory(timeline.Options{Keep: 30 * time.Second})
	for i := range 120 {
		h.AddSnapshot(poll(i))
	}
	oldest, newest := h.Span()
	if got := newest.Sub(oldest); got < 30*time.Second || got > 40*time.Second {
		t.Fatalf("history spans %v, want 30s to 40s (a group more at most)", got)
	}
	small := timeline.NewHistory(timeline.Options{MaxBytes: 1})
	for i := range 60 {
		small.AddSnapshot(poll(i))
	}
	if oldest, newest := small.Span(); newest.Sub(oldest) >= 10*time.Second {
		t.Fatalf("a history over its bytes kept %v, want only its newest group", newest.Sub(oldest))
	}
}

func TestNotableEventsAreFoundBothWays(t *testing.T) {
	h := timeline.NewHistory(timeline.Options{})
	open := func(s *feed.Snapshot) { s.Services[0].Breakers[0].State = contract.BreakerOpen }
	changes := map[int]func(s *feed.Snapshot){
		5: open,
		6: open,
		20: func(s *feed.Snapshot) {
			s.Faults = []contract.Fault{{Service: contract.Payment, Kind: contract.FaultDependencyDown}}
		},
		21: func(s *feed.Snapshot) {
			s.Faults = []contract.Fault{{Service: contract.Payment, Kind: contract.FaultDependencyDown}}
			s.Advisories = []*feed.Advisory{{ID: "a1", Kind: "stream_leader_elected", Stream: "ORDERS", Detail: "leader n2"}}
		},
		22: func(s *feed.Snapshot) {
			s.Advisories = []*feed.Advisory{{ID: "a1", Kind: "stream_leader_elected", Stream: "ORDERS"}}
			for seq := range 6 {
				s.DeadLetters = append([]*feed.DeadLetter{{Seq: uint64(seq + 1)}}, s.DeadLetters...)
			}
		},
	}
	for i := range 30 {
		s := poll(i)
		if change := changes[i]; change != nil {
			change(&s)
		}
		if i == 25 {
			h.AddRun(contract.RunEvent{Kind: contract.RunPhase, What: "gateway down"})
			h.AddRun(contract.RunEvent{Kind: contract.RunProgress})
		}
		h.AddSnapshot(s)
	}
	want := []struct {
		at   int
		what string
	}{
		{5, "[breaker payment/gateway open]"},
		{7, "[breaker payment/gateway closed]"},
		{20, "[fault payment dependency_down set]"},
		{21, "[leader elected for ORDERS: leader n2]"},
		{22, "[fault payment dependency_down cleared; 6 dead letters]"},
		{25, "[phase started: gateway down]"},
	}
	at := t0
	for _, w := range want {
		m, ok := h.NextNotable(at)
		if !ok || m.Time.Sub(t0) != time.Duration(w.at)*time.Second || whats(m) != w.what {
			t.Fatalf("next notable after %s: %v %s, want %ds %s", at.Sub(t0), m.Time.Sub(t0), whats(m), w.at, w.what)
		}
		at = m.Time
	}
	if m, ok := h.NextNotable(at); ok {
		t.Fatalf("a notable after the last: %s", whats(m))
	}
	for i := len(want) - 1; i >= 0; i-- {
		m, ok := h.PrevNotable(at)
		if i == len(want)-1 {
			m, ok = h.PrevNotable(at.Add(time.Nanosecond))
		}
		if !ok || m.Time.Sub(t0) != time.Duration(want[i].at)*time.Second {
			t.Fatalf("previous notable before %s: %v, want %ds", at.Sub(t0), m.Time.Sub(t0), want[i].at)
		}
		at = m.Time
	}
	if _, ok := h.PrevNotable(at); ok {
		t.Fatal("a notable before the first")
	}
}

func whats(m timeline.Mark) string {
	var out []string
	for _, n := range m.Notable {
		out = append(out, n.What)
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// Traces grow a span a second and the oldest trace leaves: each frame
// from the history holds the traces as they were, with their spans, while
// the spans no frame refers to any more are let go.
func TestTelemetryComesBackFromTheHistoryAsItWas(t *testing.T) {
	h := timeline.NewHistory(timeline.Options{Keep: 20 * time.Second})
	var sent []feed.TelemetrySnapshot
	var traces []*feed.Trace
	for i := range 60 {
		now := t0.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("t%02d", i/5) // a new trace every 5 s
		sp := &feed.Span{TraceID: id, SpanID: fmt.Sprintf("s%02d", i), Name: "step\x1b[31m", Service: "payment", Start: now, End: now.Add(time.Millisecond)}
		if len(traces) > 0 && traces[0].ID == id {
			grown := *traces[0]
			grown.Spans = append(slices.Clone(grown.Spans), sp)
			grown.End, grown.Updated = sp.End, now
			traces = append([]*feed.Trace{&grown}, traces[1:]...)
		} else {
			traces = append([]*feed.Trace{{ID: id, Root: sp, First: sp, Start: now, End: sp.End, Spans: []*feed.Span{sp}, Services: []string{"payment"}, Updated: now}}, traces...)
		}
		traces = traces[:min(len(traces), 3)]
		tel := feed.TelemetrySnapshot{Time: now, Traces: slices.Clone(traces), Reading: true, Since: t0,
			Logs: []*feed.LogLine{{Seq: uint64(i + 1), Time: now, Level: "INFO", Message: "line", Service: "payment"}}}
		for _, tr := range traces {
			tel.Spans += len(tr.Spans)
		}
		sent = append(sent, tel)
		h.AddTelemetry(tel)
	}
	oldest, _ := h.Span()
	for _, want := range sent {
		if want.Time.Before(oldest) {
			continue
		}
		f, err := h.Seek(want.Time)
		if err != nil {
			t.Fatal(err)
		}
		if d := same.Diff(want, *f.Telemetry); d != "" {
			t.Fatalf("telemetry at %s differs at %s", want.Time.Format(time.TimeOnly), d)
		}
	}
	if st := h.Stats(); st.Bytes > 60<<10 {
		t.Fatalf("the history holds %d bytes for 20 s of three small traces", st.Bytes)
	}
}

// Frames 1.5 s apart: a step of a second forward from a frame lands on
// the next frame, not on the same one, and from the newest on none.
func TestSeekAfterMovesForwardOverUnevenFrames(t *testing.T) {
	h := timeline.NewHistory(timeline.Options{})
	for i := range 10 {
		s := poll(i)
		s.Time = t0.Add(time.Duration(i) * 1500 * time.Millisecond)
		h.AddSnapshot(s)
	}
	for _, tt := range []struct {
		name     string
		from, to time.Duration
		placed   uint64
		ok       bool
	}{
		{"a second from a frame: the next frame", 3 * time.Second, 4 * time.Second, 3, true},
		{"ten seconds: the frame at or before", 3 * time.Second, 13 * time.Second, 8, true},
		{"from before the first: the first", -time.Minute, -59 * time.Second, 0, true},
		{"from the newest: none, that is live", 13500 * time.Millisecond, 14500 * time.Millisecond, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, ok, err := h.SeekAfter(t0.Add(tt.from), t0.Add(tt.to))
			if err != nil || ok != tt.ok {
				t.Fatalf("SeekAfter = ok %v, %v; want ok %v", ok, err, tt.ok)
			}
			if ok && f.Snapshot.Sagas.Placed != tt.placed {
				t.Fatalf("landed on poll %d, want %d", f.Snapshot.Sagas.Placed, tt.placed)
			}
		})
	}
}
