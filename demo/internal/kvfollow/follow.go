// Package kvfollow follows a few keys of a KV bucket through a watch that
// is restarted when it has fallen silent.
//
// A KV watch is an ordered consumer with one replica, on one server. When
// that server dies the client finds out from missed heartbeats and makes a
// new consumer, which took 10 to 17 s after a node stop in the
// cluster-node-down scenario: the load generator went on at the old rate
// and services kept the old faults for that long. So a follower also reads
// its keys once a second; when two reads in a row show a revision the watch
// has not delivered, it starts a new watch, whose initial values bring it
// up to date. Values only ever come from a watch, in order, each revision
// once.
package kvfollow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Options configure Follow.
type Options struct {
	// Filter is the watch's key filter ("fault.payment.*", "load").
	Filter string
	// Keys are the keys the filter covers that the check reads; a key
	// outside them is followed but not checked.
	Keys []string
	// Every is how often the keys are read (0: a second).
	Every time.Duration
	// Apply receives every change once and in order: puts, deletes and
	// purges, from the initial values on. It runs on the follower's
	// goroutine (the first values on the caller's).
	Apply func(jetstream.KeyValueEntry)
	// Restarted, if set, is told each time the watch was found silent and
	// replaced.
	Restarted func(error)
}

// Follow applies the current values of opts.Filter, then follows changes
// until ctx ends; the returned channel closes when the follower's
// goroutine has ended.
func Follow(ctx context.Context, kv jetstream.KeyValue, opts Options) (<-chan struct{}, error) {
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	f := &follower{kv: kv, opts: opts, seen: map[string]seen{}}
	w, err := f.watch(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx, w)
	}()
	return done, nil
}

// seen is the last revision the watch delivered for a key and whether it
// was a put.
type seen struct {
	rev uint64
	put bool
}

type follower struct {
	kv   jetstream.KeyValue
	opts Options
	seen map[string]seen
}

// watch starts a watch and applies its initial values.
func (f *follower) watch(ctx context.Context) (jetstream.KeyWatcher, error) {
	w, err := f.kv.Watch(ctx, f.opts.Filter)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", f.opts.Filter, err)
	}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("watch %s: %w", f.opts.Filter, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: ended before its initial values", f.opts.Filter)
			}
			if e == nil {
				return w, nil // the initial values end with a nil entry
			}
			f.apply(e)
		}
	}
}

// apply passes e on unless the watch delivered its revision before.
func (f *follower) apply(e jetstream.KeyValueEntry) {
	if s, ok := f.seen[e.Key()]; ok && e.Revision() <= s.rev {
		return
	}
	f.seen[e.Key()] = seen{rev: e.Revision(), put: e.Operation() == jetstream.KeyValuePut}
	f.opts.Apply(e)
}

func (f *follower) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	tick := time.NewTicker(f.opts.Every)
	defer tick.Stop()
	behind := 0
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				f.apply(e)
			}
		case <-tick.C:
			if !f.behind(ctx) {
				behind = 0
				continue
			}
			// Once may be a change the watch is delivering right now.
			if behind++; behind < 2 {
				continue
			}
			next, err := f.watch(ctx)
			if f.opts.Restarted != nil {
				f.opts.Restarted(err)
			}
			if err != nil {
				continue // no leader yet, say: the next tick tries again
			}
			_ = w.Stop()
			w, behind = next, 0
		}
	}
}

// behind reports whether the bucket holds a change of a key that the watch
// has not delivered. A read that fails says nothing.
func (f *follower) behind(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Every)
	defer cancel()
	for _, k := range f.opts.Keys {
		e, err := f.kv.Get(ctx, k)
		s := f.seen[k]
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if s.put {
				return true // deleted since the watch's last put
			}
		case err != nil:
			return false
		case e.Revision() > s.rev:
			return true
		}
	}
	return false
}
