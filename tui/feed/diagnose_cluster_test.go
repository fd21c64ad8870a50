package feed_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/systemtest"
	"github.com/sagascope/sagascope/tui/feed"
)

// An R3 stream on a five-node cluster is quiet while its replicas are
// up, and has no leader once two of its three stop: the three other
// nodes keep the cluster's own quorum, so the meta leader still answers
// for the stream, and what it says is that nobody leads it.
func TestAStreamThatLosesTwoOfThreeReplicasIsDiagnosedWithoutALeader(t *testing.T) {
	c, err := embedded.StartCluster(5, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	js := natstest.JetStream(t, natstest.Connect(t, c.ClientURLs()))
	leader := r3Stream(t, js, "LEDGER")
	info, err := js.Stream(t.Context(), "LEDGER")
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]bool{leader: true}
	for _, r := range si.Cluster.Replicas {
		members[r.Name] = true
	}
	// Stop the leader and one follower; watch from a node outside the
	// stream, so the feed's own connection stays up.
	stop, watchFrom := []int{}, -1
	for i, s := range c.Servers() {
		switch name := s.NATS().Name(); {
		case name == leader:
			stop = append(stop, i)
		case !members[name] && watchFrom < 0:
			watchFrom = i
		}
	}
	for i, s := range c.Servers() {
		if name := s.NATS().Name(); members[name] && name != leader && len(stop) < 2 {
			stop = append(stop, i)
		}
	}
	latest := watchFast(t, natstest.Connect(t, c.Servers()[watchFrom].ClientURL()))
	systemtest.WaitFor(t, systemtest.Quickly, "the stream led by "+leader, func() error {
		if st := streamNamed(latest(), "LEDGER"); st == nil || st.Cluster == nil || st.Cluster.Leader != leader {
			return fmt.Errorf("stream %+v", st)
		}
		return nil
	})
	// Healthy: twenty seconds by the feed's clock, twice the longest
	// window of the cluster rules, with nothing to say about the stream.
	// Only the cluster rules are asked: on a server without the demo the
	// feed's own probes of the demo's streams (SAGA_DEADLETTER,
	// SAGA_ADVISORIES, KV_saga_sagas) are "stream not found" API errors,
	// which the API rule counts — a known fault of the feed, not of the
	// cluster.
	start := latest().Time
	for latest().Time.Sub(start) < 20*time.Second {
		for _, d := range latest().Diagnoses {
			if d.Rule == feed.RuleNoLeader || d.Rule == feed.RuleReplicaOffline || d.Rule == feed.RuleReplicaLagging {
				t.Fatalf("a healthy cluster is diagnosed: %+v", d)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, i := range stop {
		c.Stop(i)
	}
	awaitDiagnosis(t, latest, feed.RuleNoLeader, "stream LEDGER", feed.ScreenServers, "no leader for")
}

// A replica that comes back far behind its leader is diagnosed as
// lagging while it catches up: a follower of an R3 stream stops, the
// stream takes 200 MB without it, and it starts again. Online and not
// current, with operations to catch up, it is behind for more than the
// rule's window on the feed's clock (ten times the wall clock's pace).
func TestAReplicaCatchingUpFarBehindIsDiagnosedAsLagging(t *testing.T) {
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	leader := r3Stream(t, natstest.JetStream(t, natstest.Connect(t, c.ClientURLs())), "BULK")
	follower, lead := -1, -1
	for i, s := range c.Servers() {
		if s.NATS().Name() == leader {
			lead = i
		} else if follower < 0 {
			follower = i
		}
	}
	// Watch and write through the leader's node, which stays up.
	nc := natstest.Connect(t, c.Servers()[lead].ClientURL())
	latest := watchFast(t, nc)
	js := natstest.JetStream(t, nc)
	start := latest().Time
	for latest().Time.Sub(start) < 2*lagWindow {
		if d := findDiagnosis(latest(), feed.RuleReplicaLagging, ""); d != nil {
			t.Fatalf("a healthy stream is diagnosed: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}

	c.Stop(follower)
	payload := make([]byte, 1024)
	natstest.PublishMany(t, js, 200_000, func(int) string { return "bulk" }, payload)
	if err := c.Start(follower); err != nil {
		t.Fatal(err)
	}
	awaitDiagnosis(t, latest, feed.RuleReplicaLagging, "stream BULK", feed.ScreenServers, "operations behind")
}

// lagWindow is the lagging rule's window (tui/feed's lagWindow).
const lagWindow = 10 * time.Second
