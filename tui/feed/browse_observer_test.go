package feed_test

import (
	"testing"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded/sessiontest"
	"github.com/sagascope/sagascope/tui/feed"
)

// An observer of a shared session reads a service's stream, which allows
// no direct get, and the saga bucket's keys, history and changes: every
// read is one the observer's role permits.
func TestAnObserverBrowsesStreamsAndBuckets(t *testing.T) {
	s := sessiontest.Start(t)
	ctx := t.Context()
	for range 3 {
		if _, err := s.Services.JS.Publish(ctx, contract.Prefix+".orders.evt.placed", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	obs := s.Dial(t, s.Roles.Observer)
	b, err := feed.NewBrowser(obs.NC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, bd, err := b.Read(ctx, feed.MsgQuery{Stream: contract.StreamName(contract.Orders), Limit: 10})
	if err != nil || len(msgs) != 3 || bd.Direct {
		t.Errorf("the orders stream: %d messages (direct %v): %v", len(msgs), bd.Direct, err)
	}
	keys, err := b.Keys(ctx, contract.SagaBucket)
	if err != nil || len(keys.Entries) != 1 || keys.Entries[0].Key != sessiontest.SagaID {
		t.Errorf("the saga bucket's keys: %+v: %v", keys.Entries, err)
	}
	if h, err := b.History(ctx, contract.SagaBucket, sessiontest.SagaID); err != nil || len(h) != 1 {
		t.Errorf("the saga's history: %+v: %v", h, err)
	}
	if _, _, err := b.Changes(ctx, contract.SagaBucket, 0, 10); err != nil {
		t.Errorf("the saga bucket's changes: %v", err)
	}
	if v := obs.Violations(); len(v) > 0 {
		t.Fatalf("the server refused the observer a read: %q", v)
	}
}
