package feed_test

import (
	"context"
	"sync"
	"time"

	"github.com/sagascope/sagascope/tui/feed"
)

// watcher is the attached feed's send: it keeps no snapshot, only checks
// each against what the benchmark waits for the dashboard to show. It runs
// on every frame inside the measured process, so its checks are cheap: a
// length comparison first, and a pass over the streams only while
// something is awaited.
type watcher struct {
	consumers int // per layout stream

	mu     sync.Mutex
	want   map[string]bool // the layout streams that exist now
	frames int
	// complete, appear and disappear are the sightings awaited; each
	// counts from when it is armed.
	complete, appear, disappear *sighting
}

// sighting is something the feed is expected to show.
type sighting struct {
	since time.Time // zero until armed
	shows func(feed.Snapshot) bool
	seen  bool
	took  time.Duration
}

// latency is how long until the feed showed something; seen is false when
// it never did.
type latency struct {
	took time.Duration
	seen bool
}

func (l latency) String() string {
	if !l.seen {
		return "not seen"
	}
	return l.took.Round(time.Millisecond).String()
}

// newWatcher awaits the whole layout; appear and disappear are armed by
// arm.
func newWatcher(l layout, added, removed string) *watcher {
	w := &watcher{consumers: l.consumers, want: map[string]bool{}}
	for _, name := range l.streamNames() {
		w.want[name] = true
	}
	w.complete = &sighting{shows: w.isComplete}
	w.appear = &sighting{shows: func(s feed.Snapshot) bool { return findStream(s, added) != nil }}
	w.disappear = &sighting{shows: func(s feed.Snapshot) bool {
		// A snapshot that lacks it because it lacks most streams does not
		// count.
		return len(s.Streams) >= l.streams-1 && findStream(s, removed) == nil
	}}
	return w
}

// arm starts counting g from since.
func (w *watcher) arm(g *sighting, since time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g.since = since
}

// forget drops a layout stream from the complete picture: it is about to
// be deleted.
func (w *watcher) forget(stream string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.want, stream)
}

// send is the feed's send.
func (w *watcher) send(s feed.Snapshot) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frames++
	for _, g := range []*sighting{w.complete, w.appear, w.disappear} {
		if !g.since.IsZero() && !g.seen && g.shows(s) {
			g.seen, g.took = true, now.Sub(g.since)
		}
	}
}

// isComplete reports whether s shows every layout stream that exists and
// every consumer of those. w.mu is held.
func (w *watcher) isComplete(s feed.Snapshot) bool {
	if len(s.Streams) < len(w.want) || len(s.Consumers) < len(w.want)*w.consumers {
		return false
	}
	streams, consumers := 0, 0
	for _, st := range s.Streams {
		if w.want[st.Name] {
			streams++
		}
	}
	for _, c := range s.Consumers {
		if w.want[c.Stream] {
			consumers++
		}
	}
	return streams == len(w.want) && consumers == len(w.want)*w.consumers
}

// latencies are the three sightings so far.
func (w *watcher) latencies() (complete, appear, disappear latency) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := func(g *sighting) latency { return latency{took: g.took, seen: g.seen} }
	return l(w.complete), l(w.appear), l(w.disappear)
}

// frameCount is the snapshots sent so far.
func (w *watcher) frameCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// await waits until every sighting was seen, ctx ends or timeout passes.
func (w *watcher) await(ctx context.Context, timeout time.Duration) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(timeout)
	for {
		c, a, d := w.latencies()
		if c.seen && a.seen && d.seen {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
	}
}
