package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A feeder keeps a standing queue in front of a pipeline: it starts backlog
// units of work, then one more each time a unit finishes (a message on the
// done subject). The pipeline never idles, so what it finishes is its
// capacity; and it never receives more than it finishes, so no CPU goes into
// storing a queue that only grows, as an open-loop generator above capacity
// would make it. The one publish per unit it does make is part of the unit's
// cost, as the load generator's place-order publish is part of a saga's.
type feeder struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	sub    *nats.Subscription
	next   func() (*nats.Msg, error)
	owed   atomic.Int64 // units finished and not yet replaced
	wake   chan struct{}
	failed atomic.Uint64
	cancel context.CancelFunc
	done   sync.WaitGroup
	err    error // from the feeding loop, read after done
}

// feedTimeout bounds the wait for the feeder's last publishes to be stored.
const feedTimeout = 10 * time.Second

// startFeeder connects, subscribes to done and publishes backlog messages
// made by next. The caller must call stop.
func (b *bench) startFeeder(ctx context.Context, name, done string, backlog int, next func() (*nats.Msg, error)) (*feeder, error) {
	nc, err := b.connect(name)
	if err != nil {
		return nil, err
	}
	f := &feeder{nc: nc, next: next, wake: make(chan struct{}, 1)}
	f.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(max(256, 2*backlog)),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { f.failed.Add(1) }))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: jetstream: %w", name, err)
	}
	f.sub, err = nc.Subscribe(done, func(*nats.Msg) {
		f.owed.Add(1)
		select {
		case f.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: subscribe %s: %w", name, done, err)
	}
	// A subscriber that falls behind is cut off by the server; the done
	// subject carries one small message per unit, so a generous buffer
	// never fills.
	_ = f.sub.SetPendingLimits(1<<20, 256<<20)
	f.owed.Add(int64(backlog))
	f.wake <- struct{}{}
	loop, cancel := context.WithCancel(ctx)
	f.cancel = cancel
	f.done.Go(func() { f.err = f.feed(loop) })
	return f, nil
}

// feed publishes what is owed until ctx ends.
func (f *feeder) feed(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
		for n := f.owed.Swap(0); n > 0; n-- {
			msg, err := f.next()
			if err != nil {
				return err
			}
			if _, err := f.js.PublishMsgAsync(msg); err != nil {
				f.failed.Add(1)
			}
		}
	}
}

// stop stops feeding, waits until its publishes are stored and closes the
// connection. It reports publishes that failed: they would make the queue
// smaller than promised.
func (f *feeder) stop() error {
	dropped, _ := f.sub.Dropped()
	_ = f.sub.Unsubscribe()
	f.cancel()
	f.done.Wait()
	defer f.nc.Close()
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(feedTimeout):
		return fmt.Errorf("feeder: publishes not stored after %s: %w", feedTimeout, errIncomplete)
	}
	if f.err != nil {
		return fmt.Errorf("feeder: %w", f.err)
	}
	if n := f.failed.Load(); n > 0 {
		return fmt.Errorf("feeder: %d publishes failed", n)
	}
	if dropped > 0 {
		return fmt.Errorf("feeder: %d done messages dropped by a slow subscription", dropped)
	}
	return nil
}
