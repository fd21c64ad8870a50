package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
	"github.com/sagascope/sagascope/tui/recording"
	"github.com/sagascope/sagascope/tui/timeline"
)

// FrameFormat names the frames a recording of the dashboard holds
// (recording.Meta.FrameFormat): a stream of timeline frames, as
// timeline.StreamEncoder writes them. A replay also plays the
// self-contained frames of the format before (frameFormatV1).
var FrameFormat = fmt.Sprintf("sagascope-timeline/%d", timeline.StreamVersion)

// frameFormatV1 is what recordings of self-contained frames say they hold.
var frameFormatV1 = fmt.Sprintf("sagascope-timeline/%d", timeline.Version)

// keyEvery is how often a recorded frame carries every span it shows, so
// a seek can start there: as often as the container compresses a chunk
// on its own, so a seek decompresses no more for the spans than for the
// chunks.
const keyEvery = recording.DefaultKeyEvery

// Recorder writes what the feeds send to a recording, a frame a second
// (timeline.Framer) with each frame's notable events as the chunk's
// labels. It is safe for concurrent use: each feed calls it from its own
// goroutine. It does not close the writer.
type Recorder struct {
	mu    sync.Mutex
	w     *recording.Writer
	fr    timeline.Framer
	enc   timeline.StreamEncoder
	keyAt time.Time // the last key frame's time
	err   error
}

// NewRecorder returns a Recorder writing to w.
func NewRecorder(w *recording.Writer) *Recorder { return &Recorder{w: w} }

// AddSnapshot takes a status snapshot.
func (r *Recorder) AddSnapshot(s feed.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(r.fr.AddSnapshot(s))
}

// AddTelemetry takes a telemetry snapshot.
func (r *Recorder) AddTelemetry(t feed.TelemetrySnapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(r.fr.AddTelemetry(t))
}

// AddRun takes a scenario run event.
func (r *Recorder) AddRun(e contract.RunEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fr.AddRun(e)
}

// put writes a frame that is due. Called with r.mu held.
func (r *Recorder) put(f timeline.Frame, due bool) {
	if !due || r.err != nil {
		return
	}
	key := r.keyAt.IsZero() || f.Time.Sub(r.keyAt) >= keyEvery || f.Time.Before(r.keyAt)
	if key {
		r.keyAt = f.Time
	}
	data, err := r.enc.Encode(f, key)
	if err == nil {
		err = r.w.Append(recording.Frame{Time: f.Time, Keyframe: key, Data: data})
	}
	for _, n := range f.Notable {
		if err == nil {
			err = r.w.Mark(f.Time, string(n.Kind)+": "+n.What)
		}
	}
	r.err = err
}

// Flush writes the chunk being filled, so a quiet second is on disk too,
// and returns the first error the recorder met.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Flush()
	}
	return r.err
}

// RecordOptions configure Record. The zero value is usable.
type RecordOptions struct {
	// RefreshEvery is how often streams and consumers are polled
	// (default 1s), as the dashboard's option.
	RefreshEvery time.Duration
	// System, when set, is a system-account connection the streams and
	// consumers are read through, as the dashboard's option. The caller
	// closes it.
	System *nats.Conn
	// NoTelemetry leaves traces and logs out. At the demo's load a
	// recording with them is about 209 MiB/hour (frames carry only new
	// spans, a key frame every 20 s all 10,000), without them about 13
	// MiB/hour (measured, README Recordings).
	NoTelemetry bool
}

// Record writes what the dashboard would show of the system on nc to w,
// a frame a second, until ctx ends; it runs the dashboard's feeds without
// the dashboard. It does not own nc or close w. A write error stops it.
func Record(ctx context.Context, nc *nats.Conn, w *recording.Writer, opts RecordOptions) error {
	f, err := feed.New(nc, feed.Options{RefreshEvery: opts.RefreshEvery, System: opts.System})
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	var tel *feed.Telemetry
	if !opts.NoTelemetry {
		if tel, err = feed.NewTelemetry(nc, feed.TelemetryOptions{}); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	rec := NewRecorder(w)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.Run(gctx, rec.AddSnapshot) })
	if tel != nil {
		g.Go(func() error { return tel.Run(gctx, rec.AddTelemetry) })
	}
	g.Go(func() error { return feed.FollowRuns(gctx, nc, rec.AddRun) })
	g.Go(func() error { return rec.Run(gctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

// Run flushes the recording every second until ctx ends, so the chunk
// being filled reaches the disk even when no frame comes to push it out,
// then once more. It returns the first write error, which stops the
// recording (the dashboard shows it as a stopped feed).
func (r *Recorder) Run(ctx context.Context) error {
	t := time.NewTicker(recording.DefaultChunkSpan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.Flush(); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			return nil
		case <-t.C:
			if err := r.Flush(); err != nil {
				return fmt.Errorf("record: %w", err)
			}
		}
	}
}
