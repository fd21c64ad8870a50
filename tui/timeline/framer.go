package timeline

import (
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// Framer assembles frames from what the feeds send, as a History does for
// itself: the newest status and telemetry snapshots, the run events since
// the frame before, and the notable events between the snapshots of the
// two frames; at most one frame per Every. A recording is made of its
// frames. It is not safe for concurrent use: its owner serializes the
// feeds' calls.
type Framer struct {
	// Every is the least time between frames (default 1s, the feed's
	// default poll).
	Every time.Duration

	snap *feed.Snapshot
	tel  *feed.TelemetrySnapshot
	runs []contract.RunEvent
	prev *feed.Snapshot
	last time.Time
}

// AddSnapshot takes a status snapshot and returns the frame it completes,
// if one is due; s is kept, not copied.
func (f *Framer) AddSnapshot(s feed.Snapshot) (Frame, bool) {
	f.snap = &s
	return f.frame(s.Time)
}

// AddTelemetry takes a telemetry snapshot and returns the frame it
// completes, if one is due.
func (f *Framer) AddTelemetry(t feed.TelemetrySnapshot) (Frame, bool) {
	f.tel = &t
	return f.frame(t.Time)
}

// AddRun takes a scenario run event for the next frame; it is on the
// runner's clock, so it does not make a frame by itself.
func (f *Framer) AddRun(e contract.RunEvent) { f.runs = append(f.runs, e) }

func (f *Framer) frame(t time.Time) (Frame, bool) {
	every := f.Every
	if every <= 0 {
		every = time.Second
	}
	if !f.last.IsZero() && t.Sub(f.last) < every {
		return Frame{}, false
	}
	fr := Frame{Time: t, Snapshot: f.snap, Telemetry: f.tel, Runs: f.runs, Notable: notable(f.prev, f.snap, f.runs)}
	f.prev, f.runs, f.last = f.snap, nil, t
	return fr, true
}
