package embedded_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/embedded"
)

func TestClusterKeepsR3StreamReadableWhenItsLeaderStops(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)

	if n := len(c.Servers()); n != 3 {
		t.Fatalf("Servers() has %d nodes, want 3", n)
	}
	if urls := strings.Split(c.ClientURLs(), ","); len(urls) != 3 {
		t.Fatalf("ClientURLs() = %q, want 3 URLs", c.ClientURLs())
	}
	if c.Leader() < 0 {
		t.Fatalf("no meta leader after StartCluster returned")
	}

	js := connect(t, c.ClientURLs())
	fillStream(t, ctx, js, 3, 100)
	stream, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster info = %+v, want a leader and 2 replicas", info.Cluster)
	}
	leader := -1
	for i, s := range c.Servers() {
		if s.NATS().Name() == info.Cluster.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("stream leader %q is not a cluster node", info.Cluster.Leader)
	}

	c.Stop(leader)
	checkSequence(t, readAll(t, ctx, js, 100))

	if err := c.Start(leader); err != nil {
		t.Fatalf("restart node %d: %v", leader, err)
	}
	if err := c.WaitReady(15 * time.Second); err != nil {
		t.Fatalf("cluster after restart: %v", err)
	}
	// A client of the restarted node reads the whole stream again.
	checkSequence(t, readAll(t, ctx, connect(t, c.Servers()[leader].ClientURL()), 100))
}

// WipeCluster removes what the nodes' servers stored and nothing else:
// each node's directory and the files beside its store stay.
func TestWipeClusterRemovesOnlyTheNodesStores(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"s1/jetstream/$G/streams/X/msgs", "s2/jetstream/meta", "s2/sagascope.log"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := embedded.WipeCluster(3, dir); err != nil {
		t.Fatalf("wipe: %v", err)
	}
	for _, gone := range []string{"s1/jetstream", "s2/jetstream"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", gone, err)
		}
	}
	for _, kept := range []string{"s1", "s2/sagascope.log", "s3"} {
		if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
}
