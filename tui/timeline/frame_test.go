package timeline_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/internal/same"
	"github.com/sagascope/sagascope/tui/timeline"
	"github.com/sagascope/sagascope/tui/timeline/timelinetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)

// richFrame holds what JSON alone would lose: NaN gaps in a series, an
// advisory's raw bytes (hostile ones), a trace's root and first span.
func richFrame() timeline.Frame {
	root := &feed.Span{TraceID: "t1", SpanID: "s1", Name: "saga", Service: "orders", Start: t0.Add(time.Millisecond), End: t0.Add(time.Second)}
	early := &feed.Span{TraceID: "t1", SpanID: "s2", ParentID: "s1", Name: "charge\x1b[31m", Service: "payment", Start: t0, End: t0.Add(time.Second),
		Attrs: []feed.Attr{{Key: "k", Value: "v"}}, Events: []feed.SpanEvent{{Time: t0, Name: "retry"}}}
	snap := &feed.Snapshot{
		Time: t0, Connection: feed.Connection{State: feed.StateConnected, URL: "nats://127.0.0.1:4222"}, Reporting: true,
		History:   feed.History{Every: time.Second, Completed: feed.Series{1.5, math.NaN(), 19.533333333333333}, LatencyP50: feed.Series{math.NaN()}},
		Faults:    []contract.Fault{{Service: contract.Payment, Kind: contract.FaultDependencyDown, Set: t0.Add(-time.Minute)}},
		Consumers: []feed.Consumer{{Stream: "S", Name: "c", LagTrend: feed.Series{3, math.NaN()}, Read: t0, TimeStamp: t0}},
		Recent:    []*feed.Saga{{Saga: contract.Saga{ID: "ord-1", Status: contract.SagaCompleted, Started: t0, Updated: t0}, Revision: 7}},
		Advisories: []*feed.Advisory{
			{Kind: "nak", ID: "a1", Time: t0, Raw: []byte("{\"x\":\"\x1b[2J\x00\"}")},
			{Kind: "terminated", ID: "a2", Time: t0},
		},
		DeadLetters: []*feed.DeadLetter{{Seq: 9, Time: t0, Subject: "x", Payload: []byte{0, 1, 0xff}, Size: 3, Headers: map[string][]string{"A": {"b"}}}},
	}
	tel := &feed.TelemetrySnapshot{Time: t0, Traces: []*feed.Trace{{ID: "t1", Root: root, First: early, Start: t0, End: t0.Add(time.Second), Spans: []*feed.Span{root, early}, Services: []string{"orders", "payment"}}}, Spans: 2,
		Logs: []*feed.LogLine{{Seq: 1, Time: t0, Level: "INFO", Message: "hi", Service: "orders"}}, Reading: true, Since: t0}
	return timeline.Frame{Time: t0, Snapshot: snap, Telemetry: tel,
		Runs:    []contract.RunEvent{{V: 1, Run: "r1", Seq: 1, Kind: contract.RunStarted, Time: t0}},
		Notable: []timeline.Notable{{Kind: timeline.NotableFault, What: "fault payment dependency_down set"}}}
}

func TestAFrameComesBackAsItWasEncoded(t *testing.T) {
	got, _ := timelinetest.RoundTrip(t, richFrame())
	if got.Telemetry.Traces[0].Root != got.Telemetry.Traces[0].Spans[0] || got.Telemetry.Traces[0].First != got.Telemetry.Traces[0].Spans[1] {
		t.Fatal("a decoded trace's Root and First are not its own spans")
	}
}

func TestAFrameOfAnotherVersionIsRefused(t *testing.T) {
	for _, b := range []string{`{"v":2,"time":"2026-12-02T15:04:05Z"}`, `{}`} {
		if _, err := timeline.Decode([]byte(b)); !errors.Is(err, timeline.ErrVersion) {
			t.Errorf("Decode(%s) = %v, want ErrVersion", b, err)
		}
	}
	if _, err := timeline.Decode([]byte("\x1b[2J not json")); err == nil {
		t.Error("Decode of garbage returned no error")
	}
}

// A snapshot the feed collected from the running demo comes back from
// its frame bytes, and from a history, as it was.
func TestACollectedSnapshotComesBackAsItWasEncoded(t *testing.T) {
	sys := systemtest.Start(t, 20)
	var snap feed.Snapshot
	systemtest.WaitFor(t, time.Minute, "a snapshot with sagas and services", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var err error
		snap, err = feed.Collect(ctx, sys.NC, feed.Options{RefreshEvery: 500 * time.Millisecond})
		switch {
		case err != nil:
			return err
		case len(snap.Recent) == 0 || !snap.Reporting || len(snap.Consumers) == 0:
			return errors.New("no saga, service or consumer yet")
		}
		return nil
	})
	_, size := timelinetest.RoundTrip(t, timeline.Frame{Time: snap.Time, Snapshot: &snap})
	h := timeline.NewHistory(timeline.Options{})
	h.AddSnapshot(snap)
	f, err := h.Seek(snap.Time)
	if err != nil {
		t.Fatal(err)
	}
	if d := same.Diff(snap, *f.Snapshot); d != "" {
		t.Fatalf("snapshot from the history differs at %s", d)
	}
	t.Logf("%d sagas, %d consumers: %d bytes of JSON", len(snap.Recent), len(snap.Consumers), size)
}
