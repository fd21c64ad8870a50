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
	c, err := r.Seek(r.Start())
	if err != nil {
		t.Fatal(err)
	}
	var frames []timeline.Frame
	var dec timeline.StreamDecoder
	for {
		rf, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
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
	rec := NewRecorder(w)
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
	d := drive(t, nc, 80, 24, func(o *Options) { o.Record = NewRecorder(w) })
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
