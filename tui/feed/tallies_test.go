package feed_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/tui/feed"
)

// A headless run's live tally reaches an instructor's dashboard: the
// tallies on the tally subject are passed on in order, and what is not a
// tally of a run (junk, another kind, another version, no counts, a
// message far larger than a tally) is dropped.
func TestAnInstructorFollowsTheLiveTallyOfARunItDidNotStart(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got := make(chan contract.RunEvent, 16)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- feed.FollowTallies(fctx, nc, func(e contract.RunEvent) { got <- e }) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("follow tallies: %v", err)
		}
	}()

	tally := func(run string, seq uint64, counts ...int) []byte {
		t.Helper()
		data, err := json.Marshal(contract.RunEvent{V: contract.Version, Run: run, Seq: seq, Kind: contract.RunTally, Tally: &contract.Tally{Phase: 0, Counts: counts}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	junk := [][]byte{
		[]byte("not json"),
		[]byte(`{"v":1,"run":"r1","seq":3,"kind":"phase started","phase":0}`),
		[]byte(`{"v":2,"run":"r1","seq":3,"kind":"tally","tally":{"phase":0,"counts":[1]}}`),
		[]byte(`{"v":1,"run":"r1","seq":3,"kind":"tally"}`),
		[]byte(`{"v":1,"run":"","seq":3,"kind":"tally","tally":{"phase":0,"counts":[1]}}`),
		[]byte(`{"v":1,"run":"r1","seq":3,"kind":"tally","what":"` + strings.Repeat("x", 64<<10) + `","tally":{"phase":0,"counts":[1]}}`),
	}
	// The subscription is in place once a first tally comes through.
	deadline := time.Now().Add(10 * time.Second)
	for first := false; !first; {
		if err := nc.Publish(contract.ScenarioTallySubject, tally("r1", 1, 1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			first = true
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no tally followed")
			}
		}
	}
	for _, data := range append(junk, tally("r1", 2, 1, 2, 0)) {
		if err := nc.Publish(contract.ScenarioTallySubject, data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		select {
		case e := <-got:
			if e.Seq == 1 {
				continue // a first tally sent again while waiting
			}
			if e.Run != "r1" || e.Seq != 2 || e.Tally.Total() != 3 {
				t.Fatalf("followed %+v, want r1's second tally: the junk before it dropped", e)
			}
			return
		case <-ctx.Done():
			t.Fatal("the second tally was not followed")
		}
	}
}
