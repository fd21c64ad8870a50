package tui

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
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
	mu     sync.Mutex
	w      *recording.Writer
	sample uint64 // traces without errors kept: hash mod sampleScale below it
	fr     timeline.Framer
	enc    timeline.StreamEncoder
	keyAt  time.Time // the last key frame's time
	err    error
}

// DefaultTraceSample is the share of traces without errors a recording
// keeps: every span of every trace is most of a recording's bytes (303
// MiB/hour at the demo's load, README Recordings), and the traces that
// tell what went wrong are the ones with errors, all of which are kept.
const DefaultTraceSample = 0.1

// sampleScale is the resolution of a trace sample: 1 in 10,000.
const sampleScale = 10_000

// NewRecorder returns a Recorder writing to w that keeps every trace with
// an error and the share traceSample (0..1) of the others, chosen by a
// hash of the trace id, so a trace is kept or left out in every frame
// alike and its spans are recorded once. A trace that gains an error
// later is recorded from then, whole.
func NewRecorder(w *recording.Writer, traceSample float64) *Recorder {
	return &Recorder{w: w, sample: uint64(math.Round(min(max(traceSample, 0), 1) * sampleScale))}
}

// AddSnapshot takes a status snapshot.
func (r *Recorder) AddSnapshot(s feed.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(r.fr.AddSnapshot(s))
}

// AddTelemetry takes a telemetry snapshot.
func (r *Recorder) AddTelemetry(t feed.TelemetrySnapshot) {
	t = sampleTraces(t, r.sample)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(r.fr.AddTelemetry(t))
}

// sampleTraces is t with the traces a sample of keep in sampleScale
// keeps: those with errors, and those whose id hashes below keep. Logs
// are kept whole: they are few, and warnings name what went wrong.
func sampleTraces(t feed.TelemetrySnapshot, keep uint64) feed.TelemetrySnapshot {
	if keep >= sampleScale {
		return t
	}
	kept := make([]*feed.Trace, 0, len(t.Traces)*int(keep)/sampleScale+8)
	spans := 0
	for _, tr := range t.Traces {
		if tr != nil && (tr.Errors > 0 || sampled(tr.ID, keep)) {
			kept = append(kept, tr)
			spans += len(tr.Spans)
		}
	}
	t.Traces, t.Spans = kept, spans
	return t
}

// sampled reports whether the trace id falls in a sample of keep in
// sampleScale.
func sampled(id string, keep uint64) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()%sampleScale < keep
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
	// NoTelemetry leaves traces and logs out (README Recordings has what
	// each choice costs an hour).
	NoTelemetry bool
	// TraceSample is the share of traces without errors kept, 0..1
	// (zero: DefaultTraceSample); every trace with an error is kept.
	TraceSample float64
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
	sample := opts.TraceSample
	if sample == 0 {
		sample = DefaultTraceSample
	}
	rec := NewRecorder(w, sample)
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
