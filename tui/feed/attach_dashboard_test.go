package feed_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/tui/feed"
)

// dashboardFeeds are dashboards' data sides, attached at once, each on a
// connection of its own: the feed and the telemetry feed a dashboard's
// process runs, with default options. Drawing is left out: it costs the
// dashboard's process, not the server.
type dashboardFeeds struct {
	stop context.CancelFunc
	g    *errgroup.Group
	each []*dashboardFeed
}

// dashboardFeed is one dashboard: it keeps the last snapshot and counts
// the frames.
type dashboardFeed struct {
	nc *nats.Conn

	mu                      sync.Mutex
	last                    feed.Snapshot
	frames, telemetryFrames int
}

// attachDashboardFeeds starts n dashboards on srv; detach stops them.
func attachDashboardFeeds(tb testing.TB, srv *serverProcess, n int) *dashboardFeeds {
	tb.Helper()
	ctx, stop := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	ds := &dashboardFeeds{stop: stop, g: g}
	for i := range n {
		d := &dashboardFeed{nc: srv.dial(tb, fmt.Sprintf("dashboard %d", i), appUser, appPassword)}
		f, err := feed.New(d.nc, feed.Options{})
		if err != nil {
			ds.detach(tb)
			tb.Fatal(err)
		}
		tf, err := feed.NewTelemetry(d.nc, feed.TelemetryOptions{})
		if err != nil {
			ds.detach(tb)
			tb.Fatal(err)
		}
		g.Go(func() error { return f.Run(ctx, d.frame) })
		g.Go(func() error { return tf.Run(ctx, d.telemetryFrame) })
		ds.each = append(ds.each, d)
	}
	return ds
}

func (d *dashboardFeed) frame(s feed.Snapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = s
	d.frames++
}

func (d *dashboardFeed) telemetryFrame(feed.TelemetrySnapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.telemetryFrames++
}

// showing reports whether the dashboard's last snapshot shows every
// service reporting and the streams polled, and its telemetry feed sent a
// snapshot; with how many sagas completed it shows.
func (d *dashboardFeed) showing() (bool, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.last
	ok := s.Reporting && !s.Polled.IsZero() && len(s.Services) > 0 && d.telemetryFrames > 0
	for _, svc := range s.Services {
		ok = ok && svc.Reporting()
	}
	return ok, s.Sagas.Completed
}

// awaitShowing waits until every dashboard shows every service, ctx ends
// or timeout passes, and reports whether they all did.
func (ds *dashboardFeeds) awaitShowing(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if n, _ := ds.showed(); n == len(ds.each) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		pause(ctx, 50*time.Millisecond)
	}
}

// showed counts the dashboards showing every service, and the fewest
// completed sagas a dashboard shows.
func (ds *dashboardFeeds) showed() (n int, completed uint64) {
	for i, d := range ds.each {
		ok, c := d.showing()
		if ok {
			n++
		}
		if i == 0 || c < completed {
			completed = c
		}
	}
	return n, completed
}

// frameCounts are the snapshots sent, all dashboards together.
func (ds *dashboardFeeds) frameCounts() (frames, telemetryFrames int) {
	for _, d := range ds.each {
		d.mu.Lock()
		frames, telemetryFrames = frames+d.frames, telemetryFrames+d.telemetryFrames
		d.mu.Unlock()
	}
	return frames, telemetryFrames
}

// detach stops every dashboard, waits for them and closes their
// connections.
func (ds *dashboardFeeds) detach(tb testing.TB) {
	tb.Helper()
	ds.stop()
	if err := ds.g.Wait(); err != nil {
		tb.Errorf("dashboard feed: %v", err)
	}
	for _, d := range ds.each {
		d.nc.Close()
	}
}
