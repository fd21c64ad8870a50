package feed_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// layoutInFlight bounds the streams built at once: each has one API
// request and at most its messages' publishes in flight, so the server's
// API queue stays short and 1,000 file streams build in seconds.
const layoutInFlight = 64

// layoutMessages and layoutPayload are what every stream of the layout
// holds.
const (
	layoutMessages = 20
	layoutPayload  = 256
)

// layout is a large JetStream system with nothing running on it: many
// streams, each with durable pull consumers and a few messages they have
// not read.
type layout struct {
	streams   int
	consumers int // per stream
	storage   jetstream.StorageType
}

func (l layout) stream(i int) string   { return fmt.Sprintf("ATTACH_%05d", i) }
func (l layout) subject(i int) string  { return fmt.Sprintf("attach.%05d", i) }
func (l layout) consumer(c int) string { return fmt.Sprintf("C%02d", c) }

// streamNames are the layout's stream names.
func (l layout) streamNames() []string {
	names := make([]string, l.streams)
	for i := range names {
		names[i] = l.stream(i)
	}
	return names
}

// build creates every stream with its consumers and messages, a bounded
// number of streams at a time.
func (l layout) build(ctx context.Context, js jetstream.JetStream) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(layoutInFlight)
	for i := range l.streams {
		g.Go(func() error { return l.buildStream(ctx, js, i) })
	}
	return g.Wait()
}

// payload is every message's body; publishes only read it.
var payload = make([]byte, layoutPayload)

// buildStream creates stream i, publishes its messages without waiting
// for each acknowledgement, creates its consumers meanwhile, then waits for
// the acknowledgements.
func (l layout) buildStream(ctx context.Context, js jetstream.JetStream, i int) error {
	name := l.stream(i)
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{l.subject(i)}, Storage: l.storage}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	acks := make([]jetstream.PubAckFuture, 0, layoutMessages)
	for range layoutMessages {
		ack, err := js.PublishAsync(l.subject(i), payload)
		if err != nil {
			return fmt.Errorf("publish to %s: %w", name, err)
		}
		acks = append(acks, ack)
	}
	for c := range l.consumers {
		cc := jetstream.ConsumerConfig{Durable: l.consumer(c), AckPolicy: jetstream.AckExplicitPolicy}
		if _, err := js.CreateConsumer(ctx, name, cc); err != nil {
			return fmt.Errorf("create consumer %s of %s: %w", cc.Durable, name, err)
		}
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("publish to %s: %w", name, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// storageNames are the -storage flag's values.
var storageNames = map[string]jetstream.StorageType{"file": jetstream.FileStorage, "memory": jetstream.MemoryStorage}

func parseStorage(s string) (jetstream.StorageType, error) {
	st, ok := storageNames[s]
	if !ok {
		return 0, fmt.Errorf("-storage %q: want file or memory", s)
	}
	return st, nil
}
