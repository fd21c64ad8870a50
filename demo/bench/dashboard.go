package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/tui/feed"
)

// dashboardFeed is the dashboard's data side, tui/feed with its default
// options, attached without a terminal on a connection of its own, as the
// dashboard would be: it follows the status subjects, the sagas and the
// advisories, and polls every stream and its consumers once a second.
// Drawing the screen is left out: that costs the dashboard's process, not
// the pipeline's server.
type dashboardFeed struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	frames int
	last   feed.Snapshot
}

// attachDashboard starts the feed; detach stops it.
func (b *bench) attachDashboard(ctx context.Context) (*dashboardFeed, error) {
	nc, err := b.connect("sagascope bench dashboard")
	if err != nil {
		return nil, err
	}
	f, err := feed.New(nc, feed.Options{})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("dashboard feed: %w", err)
	}
	run, cancel := context.WithCancel(ctx)
	d := &dashboardFeed{nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- f.Run(run, d.receive) }()
	return d, nil
}

// receive takes a snapshot as the dashboard's model would.
func (d *dashboardFeed) receive(s feed.Snapshot) {
	d.mu.Lock()
	d.frames++
	d.last = s
	d.mu.Unlock()
}

// errNoSnapshot reports a feed that never produced a snapshot.
var errNoSnapshot = errors.New("the dashboard's feed produced no snapshot")

// detach stops the feed and closes its connection. It returns the
// snapshots the feed produced and the completion rate the last one showed.
func (d *dashboardFeed) detach() (frames int, seen float64, err error) {
	d.cancel()
	err = <-d.done
	d.nc.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("dashboard feed: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frames == 0 {
		return 0, 0, errNoSnapshot
	}
	return d.frames, d.last.Sagas.CompletedRate, nil
}
