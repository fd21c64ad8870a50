package check

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/embedded"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

// A bucket's reads come through an ordered consumer that the servers may
// place on any replica, and a replica catching up after its node came
// back serves older values: a balance read there can disagree with an
// entry read elsewhere for as long as it catches up. Check notices such a
// replica and treats the read as one to settle, the way it treats a bucket
// written while it read. Here a follower of the shipments bucket stops,
// 100,000 records are written without it, and it starts again: while it
// catches up, check sees a replica that is not current.
func TestAReplicaCatchingUpMakesTheReadOneToSettle(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records to a three-node cluster")
	}
	c, err := embedded.StartCluster(3, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	ctx := t.Context()
	js := natstest.JetStream(t, natstest.Connect(t, c.ClientURLs()))
	if err := topology.Ensure(ctx, js, topology.Options{Seed: smallSeed, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "KV_"+contract.ShipmentBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lead, follower := -1, -1
	for i, srv := range c.Servers() {
		if srv.NATS().Name() == info.Cluster.Leader {
			lead = i
		} else if follower < 0 {
			follower = i
		}
	}
	// Write through the leader's node, which stays up.
	wjs := natstest.JetStream(t, natstest.Connect(t, c.Servers()[lead].ClientURL()))
	st, err := open(ctx, wjs)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.writeMark(ctx); err != nil || m.lagging {
		t.Fatalf("every replica up and idle: lagging %v (%v)", m.lagging, err)
	}

	c.Stop(follower)
	// Cancelled shipments: tombstones, which no rule counts.
	voided := []byte(`{"order":"x","status":"cancelled"}`)
	natstest.PublishMany(t, wjs, 100_000, func(i int) string { return fmt.Sprintf("$KV.%s.x-%d", contract.ShipmentBucket, i) }, voided)
	if err := c.Start(follower); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := st.writeMark(rctx)
		cancel()
		if err == nil && m.lagging {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica seen catching up within 30s of the follower's restart (last: %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
