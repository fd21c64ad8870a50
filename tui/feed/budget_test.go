package feed_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// manyStreams makes n streams ("S000"...) with one durable pull consumer
// each and one message each, and returns a JetStream context on nc.
func manyStreams(t *testing.T, nc *nats.Conn, n int) jetstream.JetStream {
	t.Helper()
	js := natstest.JetStream(t, nc)
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("S%03d", i)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"many." + name}, Storage: jetstream.MemoryStorage})
			if err != nil {
				return err
			}
			if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
				return err
			}
			_, err = js.Publish(ctx, "many."+name, []byte("x"))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("make %d streams: %v", n, err)
	}
	return js
}

// attach runs a feed with opts on nc until the test ends.
func attach(t *testing.T, nc *nats.Conn, opts feed.Options) (*feed.Feed, func() feed.Snapshot) {
	t.Helper()
	opts.RefreshEvery, opts.FrameEvery = 200*time.Millisecond, 20*time.Millisecond
	f, err := feed.New(nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f, latestOf(t, f.Run)
}

// On a system larger than its budget covers at once, the first picture
// says how many streams' consumers are not listed yet, and the rest come
// in as the budget allows; the consumers shown are never a silent part.
func TestABudgetTooSmallForEveryStreamSaysWhatIsNotListedYet(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	manyStreams(t, nc, 130)
	// 2 requests a second, 120 at once: the first poll lists about 118
	// streams' consumers.
	_, snap := attach(t, natstest.Connect(t, srv.ClientURL()), feed.Options{APIBudget: 2})
	systemtest.WaitFor(t, systemtest.Quickly, "a first picture", func() error {
		if s := snap(); len(s.Streams) != 130 {
			return fmt.Errorf("%d streams", len(s.Streams))
		}
		return nil
	})
	s := snap()
	if s.Gathering.Unlisted == 0 || len(s.Consumers)+s.Gathering.Unlisted != 130 || s.Gathering.Path != feed.PathAPI {
		t.Fatalf("first picture: %d consumers shown, %d streams unlisted (%+v); want some unlisted, and the two adding up to 130",
			len(s.Consumers), s.Gathering.Unlisted, s.Gathering)
	}
	systemtest.WaitFor(t, systemtest.Quickly, "every consumer listed", func() error {
		if s := snap(); len(s.Consumers) != 130 || s.Gathering.Unlisted != 0 {
			return fmt.Errorf("%d consumers, %d streams unlisted", len(s.Consumers), s.Gathering.Unlisted)
		}
		return nil
	})
}

// Once the budget is spent, a stream that moved and a stream on screen
// are listed again before the others, whose rows keep their age.
func TestWithTheBudgetSpentWhatMovedAndWhatIsOnScreenAreReadFirst(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := manyStreams(t, nc, 130)
	// 4 a second: the stream list takes 2, one more for the stream on
	// screen, one for the stream that moved; 130 streams need 30 s.
	f, snap := attach(t, natstest.Connect(t, srv.ClientURL()), feed.Options{APIBudget: 4})
	// The first minute's worth spent, lists no longer keep up: rows age.
	systemtest.WaitFor(t, systemtest.Eventually, "every consumer listed and the oldest ageing", func() error {
		if s := snap(); len(s.Consumers) != 130 || time.Since(s.Gathering.Oldest) < 3*time.Second {
			return fmt.Errorf("%d consumers, oldest read %v ago", len(s.Consumers), time.Since(s.Gathering.Oldest))
		}
		return nil
	})
	since := time.Now()
	f.Focus("S007")
	if _, err := js.Publish(t.Context(), "many.S042", []byte("y")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"S042", "S007"} {
		systemtest.WaitFor(t, systemtest.Quickly, name+" read again", func() error {
			c := findConsumer(snap(), name, "c")
			if c == nil || !c.Read.After(since) {
				return fmt.Errorf("%s/c read at %v", name, c)
			}
			return nil
		})
	}
	s := snap()
	if c := findConsumer(s, "S042", "c"); c.Pending != 2 {
		t.Errorf("S042/c shows %d pending, want the 2 it has", c.Pending)
	}
	stale := 0
	for _, c := range s.Consumers {
		if c.Read.Before(since) {
			stale++
		}
	}
	if stale < 100 || !s.Gathering.Oldest.Before(since) {
		t.Errorf("%d of 130 consumers read before the change, oldest %v; want most of them, the budget being spent", stale, s.Gathering.Oldest)
	}
}

// A stream created or deleted while attached appears or disappears at the
// next stream list, however the consumer budget stands.
func TestAStreamCreatedOrDeletedWhileAttachedAppearsOrDisappears(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := manyStreams(t, nc, 130)
	_, snap := attach(t, natstest.Connect(t, srv.ClientURL()), feed.Options{APIBudget: 2})
	systemtest.WaitFor(t, systemtest.Quickly, "a first picture", func() error {
		if s := snap(); len(s.Streams) != 130 {
			return fmt.Errorf("%d streams", len(s.Streams))
		}
		return nil
	})
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NEW", Subjects: []string{"new"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "S001"); err != nil {
		t.Fatal(err)
	}
	systemtest.WaitFor(t, systemtest.Quickly, "NEW shown and S001 gone", func() error {
		s := snap()
		if findStream(s, "NEW") == nil || findStream(s, "S001") != nil || findConsumer(s, "S001", "c") != nil {
			return fmt.Errorf("NEW %v, S001 %v", findStream(s, "NEW") != nil, findStream(s, "S001") != nil)
		}
		return nil
	})
}

// Without a limit every stream's consumers are listed every refresh, as
// the feed did before it had a budget.
func TestWithoutALimitEveryRefreshListsEveryStream(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	manyStreams(t, nc, 30)
	_, snap := attach(t, natstest.Connect(t, srv.ClientURL()), feed.Options{APIBudget: -1})
	var first feed.Snapshot
	systemtest.WaitFor(t, systemtest.Quickly, "a first picture", func() error {
		if first = snap(); len(first.Consumers) != 30 {
			return fmt.Errorf("%d consumers", len(first.Consumers))
		}
		return nil
	})
	systemtest.WaitFor(t, systemtest.Quickly, "three more polls", func() error {
		s := snap()
		if s.Gathering.Requests < first.Gathering.Requests+3*31 {
			return fmt.Errorf("%d requests after %d", s.Gathering.Requests, first.Gathering.Requests)
		}
		for _, c := range s.Consumers {
			if !c.Read.After(first.Time) {
				return fmt.Errorf("%s/%s not read again", c.Stream, c.Name)
			}
		}
		return nil
	})
}
