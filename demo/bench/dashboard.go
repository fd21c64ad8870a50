package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// A Watcher is the dashboard's data side, attached on a connection of its
// own as the dashboard would be: it follows the system until ctx ends and
// calls frame with the completion rate of each snapshot it makes. Drawing
// the screen is left out: that costs the dashboard's process, not the
// pipeline's server. main hands in the dashboard's feed; the bench links
// no dashboard code.
type Watcher func(ctx context.Context, nc *nats.Conn, frame func(completedRate float64)) error

// dashboardFeed is a Watcher attached to the bench's system.
type dashboardFeed struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	frames int
	seen   float64
}

// attachDashboard starts the Watcher of the options; detach stops it.
func (b *bench) attachDashboard(ctx context.Context) (*dashboardFeed, error) {
	nc, err := b.connect("sagascope bench dashboard")
	if err != nil {
		return nil, err
	}
	run, cancel := context.WithCancel(ctx)
	d := &dashboardFeed{nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- b.o.Dashboard(run, nc, d.frame) }()
	return d, nil
}

// frame takes a snapshot as the dashboard's model would.
func (d *dashboardFeed) frame(completedRate float64) {
	d.mu.Lock()
	d.frames++
	d.seen = completedRate
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
	if err != nil && !errors.Is(err, context.Canceled) {
		return 0, 0, fmt.Errorf("dashboard feed: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frames == 0 {
		return 0, 0, errNoSnapshot
	}
	return d.frames, d.seen, nil
}
