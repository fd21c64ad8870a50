package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/recording"
	"github.com/sagascope/sagascope/tui/timeline"
)

// A recording of a live server holds a frame a second that decodes to
// what the feed saw.
func TestRecordWritesAFrameASecondOfWhatTheFeedSees(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	path := filepath.Join(t.TempDir(), "live.rec")
	w, err := recording.Create(path, recording.Meta{Server: srv.ClientURL(), FrameFormat: FrameFormat}, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	if err := Record(ctx, nc, w, RecordOptions{RefreshEvery: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := openRecording(t, path)
	if r.Meta().FrameFormat != FrameFormat || r.Damage() != nil {
		t.Fatalf("meta %+v, damage %v", r.Meta(), r.Damage())
	}
	frames := readFrames(t, path)
	// 3.5 seconds make 3 or 4 frames, each at least a second after the
	// one before.
	if len(frames) < 3 {
		t.Fatalf("%d frames in 3.5s", len(frames))
	}
	for i, f := range frames {
		if i > 0 && f.Time.Sub(frames[i-1].Time) < time.Second {
			t.Errorf("frame %d at %v, %v after the one before", i, f.Time, f.Time.Sub(frames[i-1].Time))
		}
	}
	last := frames[len(frames)-1]
	if last.Snapshot == nil || last.Snapshot.Connection.State != feed.StateConnected {
		t.Fatalf("last frame's snapshot %+v", last.Snapshot)
	}
}

// The notable events of a frame become the labels of its chunk, which a
// timeline shows without decompressing anything.
func TestARecordersNotableEventsAreTheChunksLabels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notable.rec")
	w, err := recording.Create(path, recording.Meta{FrameFormat: FrameFormat}, recording.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(w, 1)
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	rec.AddSnapshot(feed.Snapshot{Time: t0})
	rec.AddRun(contract.RunEvent{V: 1, Run: "r1", Seq: 1, Kind: contract.RunStarted, What: "slow-database\x1b[2J", Time: t0})
	rec.AddSnapshot(feed.Snapshot{Time: t0.Add(time.Second)})
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	marks := openRecording(t, path).Marks()
	if len(marks) != 1 || marks[0].Label != "scenario: "+contract.RunStarted+": slow-database\x1b[2J" || !marks[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("marks %q", marks)
	}
}

// The dashboard with --record writes what it is sent as it runs: the
// file holds whole chunks while the dashboard is still open.
func TestTheDashboardRecordsWhileItRuns(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	path := filepath.Join(t.TempDir(), "dashboard.rec")
	w, err := recording.Create(path, recording.Meta{FrameFormat: FrameFormat}, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	d := drive(t, nc, 80, 24, func(o *Options) { o.Record = NewRecorder(w, 1) })
	d.waitView(t, "the overview explains", "No sagascope services report")
	systemtest.WaitFor(t, systemtest.Eventually, "two whole chunks on disk", func() error {
		r, err := recording.Open(path)
		if err != nil {
			return err
		}
		defer r.Close()
		if r.Chunks() < 2 {
			return fmt.Errorf("%d chunks", r.Chunks())
		}
		return nil
	})
}

func openRecording(t *testing.T, path string) *recording.Reader {
	t.Helper()
	r, err := recording.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// A recorder keeping a tenth of the traces keeps every trace with an
// error, and the same others in every frame, each whole; a trace that
// gains an error later is recorded from then on, with all its spans.
func TestARecorderKeepsEveryTraceWithAnErrorAndTheSameShareOfTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sampled.rec")
	w, err := recording.Create(path, recording.Meta{FrameFormat: FrameFormat}, recording.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(w, 0.1)
	t0 := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	const traces = 2000
	trace := func(i int, failed bool) *feed.Trace {
		id := fmt.Sprintf("%032x", i*7919)
		tr := &feed.Trace{ID: id, Start: t0, End: t0}
		for s := range 3 {
			sp := &feed.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", i*10+s), Name: "step", Service: "payment", Start: t0, End: t0}
			if failed && s == 2 {
				sp.Status = feed.StatusError
			}
			tr.Spans = append(tr.Spans, sp)
		}
		if failed {
			tr.Errors = 1
		}
		return tr
	}
	// Traces 0..99 fail from the start; trace 100 fails from the third
	// frame on, unless the sample already holds it.
	late := trace(100, false)
	lateKept := sampled(late.ID, 1000)
	for f := range 3 {
		snap := feed.TelemetrySnapshot{Time: t0.Add(time.Duration(f) * time.Second)}
		for i := range traces {
			snap.Traces = append(snap.Traces, trace(i, i < 100 || (i == 100 && f == 2)))
		}
		rec.AddTelemetry(snap)
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, path)
	var kept map[string]bool
	for n, f := range frames {
		if f.Telemetry == nil {
			continue
		}
		ids := map[string]bool{}
		for _, tr := range f.Telemetry.Traces {
			ids[tr.ID] = true
			if len(tr.Spans) != 3 {
				t.Errorf("frame %d: trace %s has %d spans, want 3", n, tr.ID, len(tr.Spans))
			}
		}
		for i := range 100 {
			if !ids[trace(i, true).ID] {
				t.Fatalf("frame %d lacks failed trace %d", n, i)
			}
		}
		if got := ids[late.ID]; got != (lateKept || f.Time.Equal(t0.Add(2*time.Second))) {
			t.Errorf("frame %d at %v: the trace failing in the third frame kept %v (in the sample: %v)", n, f.Time, got, lateKept)
		}
		delete(ids, late.ID)
		if kept == nil {
			kept = ids
		} else if len(ids) != len(kept) {
			t.Errorf("frame %d keeps %d traces, the first %d: the sample moved", n, len(ids), len(kept))
		}
	}
	if kept == nil {
		t.Fatal("no frame with telemetry")
	}
	// 100 failed plus a tenth of the other 1,899, give or take the hash.
	if others := len(kept) - 100; others < 140 || others > 240 {
		t.Errorf("kept %d of the 1,899 traces without errors, want about 190", others)
	}
}

// readFrames decodes every frame of the recording at path.
func readFrames(t *testing.T, path string) []timeline.Frame {
	t.Helper()
	r := openRecording(t, path)
	c, err := r.Seek(r.Start())
	if err != nil {
		t.Fatal(err)
	}
	var frames []timeline.Frame
	var dec timeline.StreamDecoder
	for {
		rf, err := c.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		f, err := dec.Decode(rf.Data)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
}
