package feed_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/tui/feed"
)

// TestADashboardThatAttachesDuringARunCatchesUpThenFollowsIt stores the
// start and two events of a run, then an older run's stray event, before
// the follower starts; it must see the stored ones once each, in order,
// then a live one, and switch when a newer run starts.
func TestADashboardThatAttachesDuringARunCatchesUpThenFollowsIt(t *testing.T) {
	srv := natstest.Server(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js := natstest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: contract.ScenarioRunStream, Subjects: []string{contract.ScenarioRunSubjects}, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	publish := func(e contract.RunEvent) {
		t.Helper()
		e.V = contract.Version
		subject := contract.ScenarioEventSubject
		if e.Kind == contract.RunStarted {
			subject = contract.ScenarioStartSubject
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subject, data); err != nil {
			t.Fatal(err)
		}
	}
	publish(contract.RunEvent{Run: "old", Seq: 1, Kind: contract.RunStarted})
	publish(contract.RunEvent{Run: "r1", Seq: 1, Kind: contract.RunStarted})
	publish(contract.RunEvent{Run: "old", Seq: 2, Kind: "phase"})
	publish(contract.RunEvent{Run: "r1", Seq: 2, Kind: "phase"})
	publish(contract.RunEvent{Run: "r1", Seq: 2, Kind: "phase"}) // a duplicate

	var mu sync.Mutex
	var got []string
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- feed.FollowRuns(fctx, nc, func(e contract.RunEvent) {
			mu.Lock()
			got = append(got, e.Run+"/"+e.Kind)
			mu.Unlock()
		})
	}()
	defer func() { stop(); <-done }()

	waitFor := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if g := seen(); len(g) >= len(want) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		g := seen()
		if len(g) != len(want) {
			t.Fatalf("followed %q, want %q", g, want)
		}
		for i := range want {
			if g[i] != want[i] {
				t.Fatalf("followed %q, want %q", g, want)
			}
		}
	}
	waitFor("r1/"+contract.RunStarted, "r1/phase")
	publish(contract.RunEvent{Run: "r1", Seq: 3, Kind: "check"})
	waitFor("r1/"+contract.RunStarted, "r1/phase", "r1/check")
	publish(contract.RunEvent{Run: "r2", Seq: 1, Kind: contract.RunStarted})
	publish(contract.RunEvent{Run: "r1", Seq: 4, Kind: "phase"}) // the replaced run's
	publish(contract.RunEvent{Run: "r2", Seq: 2, Kind: "phase"}) // arrives after it, in order
	waitFor("r1/"+contract.RunStarted, "r1/phase", "r1/check", "r2/"+contract.RunStarted, "r2/phase")
}
